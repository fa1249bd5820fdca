package unionfs

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/copyup"
	"github.com/lamina-dev/lamina/whiteout"
)

// maxKernelLowers is kernel overlayfs' limit on lower layers
// (OVL_MAX_STACK).
const maxKernelLowers = 500

// Errors of the kernel driver that callers match.
var (
	// ErrForeignUpper: the upper layer holds markers kernel overlayfs
	// does not read. Only lower layers can be converted.
	ErrForeignUpper = errors.New("holds whiteouts or redirects kernel overlayfs cannot read, and only lower layers can be converted (use the FUSE driver)")
	// ErrForeignRedirect: a lower layer holds redirects kernel overlayfs
	// would not follow, which no shim layer can stand in for.
	ErrForeignRedirect = errors.New("holds redirects kernel overlayfs does not follow (use the FUSE driver)")
	// ErrTooManyLowers: the lowers, with two shim layers per converted
	// lower, exceed the kernel's limit.
	ErrTooManyLowers = errors.New("too many lower layers for kernel overlayfs")
	// ErrShimsInUse: the shim directory of the mountpoint belongs to a
	// mount that still exists.
	ErrShimsInUse = errors.New("overlay shim directory is in use by a mount")
)

// checkUpperNative returns an error matching ErrForeignUpper when upper
// holds markers kernel overlayfs, reading namespace ns, would not honour.
func checkUpperNative(upper, ns string) error {
	m, err := whiteout.ForeignMarkers(upper, ns)
	if err != nil {
		return &LayerError{Role: "upperdir", Path: upper, Err: err}
	}
	if len(m) > 0 {
		return &LayerError{Role: "upperdir", Path: upper,
			Err: fmt.Errorf("%w: %s (%d in all)", ErrForeignUpper, describeMarker(m[0]), len(m))}
	}
	return nil
}

// describeMarker names a marker for an error message.
func describeMarker(m whiteout.Marker) string {
	dir := m.Dir
	if dir == "" {
		dir = "."
	}
	switch {
	case m.Raw != "":
		return path.Join(dir, m.Raw)
	case m.Name != "":
		return fmt.Sprintf("%s (xattr %s)", path.Join(dir, m.Name), m.Xattr)
	}
	return fmt.Sprintf("%s/ (xattr %s)", dir, m.Xattr)
}

// overlayPlan is what one walk of each lower found.
type overlayPlan struct {
	lowers  []string            // absolute lower paths, top first
	markers [][]whiteout.Marker // foreign markers of lowers[i]
}

// planOverlay walks every lower once for its foreign markers and checks
// that the kernel can take the converted list.
func planOverlay(lowers []string, ns string) (*overlayPlan, error) {
	p := &overlayPlan{lowers: lowers, markers: make([][]whiteout.Marker, len(lowers))}
	for i, l := range lowers {
		m, err := whiteout.ForeignMarkers(l, ns)
		if err != nil {
			return nil, &LayerError{Role: "lowerdir", Path: l, Err: err}
		}
		for _, mk := range m {
			if mk.Redirect {
				return nil, &LayerError{Role: "lowerdir", Path: l,
					Err: fmt.Errorf("%w: %s", ErrForeignRedirect, describeMarker(mk))}
			}
		}
		p.markers[i] = m
	}
	if n := p.kernelLowers(); n > maxKernelLowers {
		return nil, fmt.Errorf("%w: %d lowers, %d of them converted with two shim layers each, make %d; the kernel takes %d",
			ErrTooManyLowers, len(lowers), p.converted(), n, maxKernelLowers)
	}
	return p, nil
}

// converted is the number of lowers that need shims.
func (p *overlayPlan) converted() int {
	n := 0
	for _, m := range p.markers {
		if len(m) > 0 {
			n++
		}
	}
	return n
}

// kernelLowers is the length of the lowerdir list the kernel gets.
func (p *overlayPlan) kernelLowers() int { return len(p.lowers) + 2*p.converted() }

// build makes the shims of the mount at mountpoint (an absolute path) and
// returns the lowerdir list for the kernel, top first.
func (p *overlayPlan) build(ctx context.Context, mountpoint, ns string) ([]string, error) {
	if p.converted() == 0 {
		removeShims(mountpoint) // a stale one; it is not needed
		return p.lowers, nil
	}
	dir, err := shimDirFor(mountpoint)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("create overlay shim base: %w", err)
	}
	if err := clearShims(mountpoint, dir); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), filepath.Base(dir)+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("create overlay shims: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	if err := copyup.Clean(tmp); err != nil {
		return nil, fmt.Errorf("create overlay shims: %w", err)
	}
	c, err := copyup.New(tmp, copyup.NoSync(),
		copyup.WithXattrFilter(func(name string) bool { return !whiteout.IsPrivateXattr(name) }))
	if err != nil {
		return nil, fmt.Errorf("create overlay shims: %w", err)
	}
	var out []string
	for i, l := range p.lowers {
		if len(p.markers[i]) == 0 {
			out = append(out, l)
			continue
		}
		above, below := fmt.Sprintf("%d.above", i), fmt.Sprintf("%d.below", i)
		s := &shimPair{ctx: ctx, c: c, src: l, ns: ns,
			above: filepath.Join(tmp, above), below: filepath.Join(tmp, below),
			aDirs: map[string]*unix.Stat_t{}, bDirs: map[string]bool{}}
		if err := s.build(p.markers[i]); err != nil {
			return nil, fmt.Errorf("build overlay shims for lowerdir %s: %w", l, err)
		}
		out = append(out, filepath.Join(dir, above), l, filepath.Join(dir, below))
	}
	if err := os.Remove(filepath.Join(tmp, "work")); err != nil {
		return nil, fmt.Errorf("create overlay shims: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("publish overlay shims: %w", err)
	}
	done = true
	return out, nil
}

// shimPair builds T_L (above) and B_L (below) of one lower L (src).
type shimPair struct {
	ctx          context.Context
	c            *copyup.Copier
	src          string                  // L
	above, below string                  // roots of T_L and B_L
	ns           string                  // xattr namespace the kernel reads
	aDirs        map[string]*unix.Stat_t // directories made in T_L: L's lstat
	bDirs        map[string]bool         // directories made in B_L
}

// build makes both shims for L's foreign markers, then sets the times of
// T_L's directories, children before parents.
func (s *shimPair) build(markers []whiteout.Marker) error {
	if err := s.aboveDir(""); err != nil {
		return err
	}
	if err := s.belowDir(""); err != nil {
		return err
	}
	for _, m := range markers {
		if err := s.add(m); err != nil {
			return err
		}
	}
	rels := make([]string, 0, len(s.aDirs))
	for rel := range s.aDirs {
		rels = append(rels, rel)
	}
	// A child's path sorts after its parent's, so reverse order puts
	// every child first: setting a child's metadata leaves its parent's
	// mtime alone.
	sort.Sort(sort.Reverse(sort.StringSlice(rels)))
	for _, rel := range rels {
		st := s.aDirs[rel]
		ts := []unix.Timespec{st.Atim, st.Mtim}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, join(s.above, rel), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times of %s: %w", join(s.above, rel), err)
		}
	}
	return nil
}

// add converts one marker (see the file comment for what each becomes).
func (s *shimPair) add(m whiteout.Marker) error {
	switch {
	case m.Raw != "": // a marker entry: hide it, then apply its effect below
		if err := s.aboveDir(m.Dir); err != nil {
			return err
		}
		if err := whiteout.MakeKernelWhiteout(join(s.above, join(m.Dir, m.Raw))); err != nil {
			return err
		}
		switch {
		case m.Name != "":
			var st unix.Stat_t
			switch err := unix.Lstat(join(s.src, join(m.Dir, m.Name)), &st); {
			case err == nil:
				return nil // a real entry beside its marker wins
			case !errors.Is(err, unix.ENOENT):
				return fmt.Errorf("lstat %s: %w", join(s.src, join(m.Dir, m.Name)), err)
			}
			return s.whiteoutBelow(m.Dir, m.Name)
		case m.Opaque:
			return s.opaqueBelow(m.Dir)
		}
		return nil
	case m.Name != "": // a foreign xwhiteout: hide its carrier, white out below
		if err := s.aboveDir(m.Dir); err != nil {
			return err
		}
		if err := whiteout.MakeKernelWhiteout(join(s.above, join(m.Dir, m.Name))); err != nil {
			return err
		}
		return s.whiteoutBelow(m.Dir, m.Name)
	case m.Opaque: // a foreign opaque xattr: hide it, make the dir opaque below
		if err := s.aboveDir(m.Dir); err != nil {
			return err
		}
		return s.opaqueBelow(m.Dir)
	}
	return nil
}

// aboveDir makes directory rel in T_L, and its parents, as copies of L's.
func (s *shimPair) aboveDir(rel string) error {
	if _, ok := s.aDirs[rel]; ok {
		return nil
	}
	if rel != "" {
		if err := s.aboveDir(parentRel(rel)); err != nil {
			return err
		}
	}
	src := join(s.src, rel)
	st := new(unix.Stat_t)
	if err := unix.Lstat(src, st); err != nil {
		return fmt.Errorf("lstat %s: %w", src, err)
	}
	if !isDir(st) {
		return fmt.Errorf("copy %s: %w", src, ErrNotDir)
	}
	if err := s.c.Copy(s.ctx, src, join(s.above, rel), st, nil); err != nil {
		return err
	}
	s.aDirs[rel] = st
	return nil
}

// belowDir makes the plain directory rel in B_L, and its parents.
func (s *shimPair) belowDir(rel string) error {
	if s.bDirs[rel] {
		return nil
	}
	if rel != "" {
		if err := s.belowDir(parentRel(rel)); err != nil {
			return err
		}
	}
	p := join(s.below, rel)
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(p, 0o755); err != nil { // whatever the umask
		return err
	}
	s.bDirs[rel] = true
	return nil
}

// whiteoutBelow makes the kernel whiteout dir/name in B_L.
func (s *shimPair) whiteoutBelow(dir, name string) error {
	if err := s.belowDir(dir); err != nil {
		return err
	}
	return whiteout.MakeKernelWhiteout(join(s.below, join(dir, name)))
}

// opaqueBelow makes dir in B_L an empty kernel-opaque directory. A layer
// root is never opaque (the kernel ignores the xattr there, and so does
// the FUSE daemon), so the root gets nothing.
func (s *shimPair) opaqueBelow(dir string) error {
	if dir == "" {
		return nil
	}
	if err := s.belowDir(dir); err != nil {
		return err
	}
	return whiteout.SetKernelOpaque(join(s.below, dir), s.ns)
}

// parentRel is the parent of a non-empty layer-relative path.
func parentRel(rel string) string {
	if d := path.Dir(rel); d != "." {
		return d
	}
	return ""
}

// shimBase is the directory holding the shim directories of all mounts.
func shimBase() (string, error) {
	if os.Geteuid() == 0 && !inUserNS() {
		return "/run/lamina/overlay-shims", nil
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	if rt == "" || !filepath.IsAbs(rt) {
		return "", errors.New("find overlay shim directory: XDG_RUNTIME_DIR is not set to an absolute path")
	}
	return filepath.Join(rt, "lamina", "overlay-shims"), nil
}

// shimKey is the path whose hash names a mountpoint's shim directory: the
// absolute path with symlinks resolved where possible.
func shimKey(mountpoint string) string {
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return mountpoint
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}

// shimDirFor is the shim directory of the mount at mountpoint.
func shimDirFor(mountpoint string) (string, error) {
	base, err := shimBase()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(shimKey(mountpoint)))
	return filepath.Join(base, hex.EncodeToString(sum[:16])), nil
}

// clearShims removes dir, the shim directory of mountpoint, and leftover
// temporary builds of it, unless a mount still uses it.
func clearShims(mountpoint, dir string) error {
	busy, err := shimsInUse(shimKey(mountpoint), dir)
	if err != nil {
		return err
	}
	if busy {
		return fmt.Errorf("remove %s: %w", dir, ErrShimsInUse)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove old overlay shims: %w", err)
	}
	stale, _ := filepath.Glob(dir + ".tmp-*")
	for _, s := range stale {
		if err := os.RemoveAll(s); err != nil {
			return fmt.Errorf("remove old overlay shims: %w", err)
		}
	}
	return nil
}

// removeShims removes the shim directory of the mount that was at
// mountpoint, if it has one and no mount uses it any more. Unmount calls
// it after a successful umount(2).
func removeShims(mountpoint string) error {
	dir, err := shimDirFor(mountpoint)
	if err != nil {
		return nil // no base directory: nothing was ever built here
	}
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	busy, err := shimsInUse(shimKey(mountpoint), dir)
	if err != nil || busy {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove overlay shims of %s: %w", mountpoint, err)
	}
	return nil
}

// shimsInUse reports whether /proc/self/mountinfo shows a mount at
// mountpoint, or a mount whose options name a path inside dir.
func shimsInUse(mountpoint, dir string) (bool, error) {
	inside := dir + "/"
	used := false
	err := scanMountinfo(func(fields []string) bool {
		if unescapeMountinfo(fields[4]) == mountpoint {
			used = true
			return true
		}
		for i := 6; i+3 < len(fields); i++ {
			if fields[i] == "-" {
				used = strings.Contains(unescapeMountinfo(fields[i+3]), inside)
				return used
			}
		}
		return false
	})
	return used, err
}

// scanMountinfo calls visit with the fields of each line of
// /proc/self/mountinfo (ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS...]
// - TYPE SOURCE SUPEROPTS), in the kernel's order, until it returns true.
// Reading it never touches the mounts themselves.
func scanMountinfo(visit func(fields []string) (stop bool)) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("read mount table: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), " ")
		if len(fields) >= 10 && visit(fields) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read mount table: %w", err)
	}
	return nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040, \011, \012,
// \134, \072...) in a mountinfo field.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// mountOverlayFS mounts kernel overlayfs at mnt. lowers are top first and
// taken as they are (no escaping). It uses the new mount API with one
// "lowerdir+" per layer (Linux 6.8), and mount(2) where that is missing.
func mountOverlayFS(mnt string, lowers []string, upper, work string, userxattr, ro bool, redirect RedirectDir) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return mountOverlayLegacy(mnt, lowers, upper, work, userxattr, ro, redirect)
	}
	defer unix.Close(fd)
	fail := func(what string, err error) error {
		return fmt.Errorf("mount overlay on %s: %s: %w%s", mnt, what, err, fsLog(fd))
	}
	if err := unix.FsconfigSetString(fd, "source", "overlay"); err != nil {
		return fail("set source", err)
	}
	for i, l := range lowers {
		if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
			msg := fsLog(fd)
			if i == 0 && errors.Is(err, unix.EINVAL) && strings.Contains(msg, "nknown parameter") {
				// Before Linux 6.8 "lowerdir+" is unknown.
				return mountOverlayLegacy(mnt, lowers, upper, work, userxattr, ro, redirect)
			}
			return fmt.Errorf("mount overlay on %s: add lowerdir %s: %w%s", mnt, l, err, msg)
		}
	}
	if upper != "" {
		if err := unix.FsconfigSetString(fd, "upperdir", upper); err != nil {
			return fail("set upperdir", err)
		}
		if err := unix.FsconfigSetString(fd, "workdir", work); err != nil {
			return fail("set workdir", err)
		}
	}
	if userxattr {
		if err := unix.FsconfigSetFlag(fd, "userxattr"); err != nil {
			return fail("set userxattr", err)
		}
	}
	if redirect != "" {
		if err := unix.FsconfigSetString(fd, "redirect_dir", string(redirect)); err != nil {
			return fail("set redirect_dir", err)
		}
	}
	attr := 0
	if ro {
		if err := unix.FsconfigSetFlag(fd, "ro"); err != nil {
			return fail("set ro", err)
		}
		attr = unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fail("create", err)
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fail("fsmount", err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, mnt, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", mnt, err)
	}
	return nil
}

// fsLog drains the messages the kernel left on an fs context, as
// " (msg; msg)", or "" when there are none.
func fsLog(fd int) string {
	var msgs []string
	buf := make([]byte, 1024)
	for len(msgs) < 16 {
		n, err := unix.Read(fd, buf)
		if err != nil || n <= 0 {
			break
		}
		m := strings.TrimSpace(string(buf[:n]))
		if len(m) > 2 && m[1] == ' ' { // "e ", "w ", "i " prefixes
			m = m[2:]
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return ""
	}
	return " (" + strings.Join(msgs, "; ") + ")"
}

// mountOverlayLegacy mounts with mount(2), whose option data must fit one
// page.
func mountOverlayLegacy(mnt string, lowers []string, upper, work string, userxattr, ro bool, redirect RedirectDir) error {
	esc := make([]string, len(lowers))
	for i, l := range lowers {
		esc[i] = EscapeOption(l)
	}
	data := []string{"lowerdir=" + strings.Join(esc, ":")}
	if upper != "" {
		data = append(data, "upperdir="+EscapeOption(upper), "workdir="+EscapeOption(work))
	}
	if userxattr {
		data = append(data, "userxattr")
	}
	if redirect != "" {
		data = append(data, "redirect_dir="+string(redirect))
	}
	opts := strings.Join(data, ",")
	if len(opts) >= unix.Getpagesize() {
		return fmt.Errorf("mount overlay on %s: %d bytes of options with %d lowers exceed mount(2)'s limit of one page (Linux 6.8 or later has no such limit)",
			mnt, len(opts), len(lowers))
	}
	var flags uintptr
	if ro {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("overlay", mnt, "overlay", flags, opts); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", mnt, err)
	}
	return nil
}
