// Package layer applies an uncompressed OCI layer tar to an empty directory,
// safely, converting OCI whiteouts into the union's native form. The rules
// are in the doc of package github.com/lamina-dev/lamina/oci ("Unpack").
package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/whiteout"
	"golang.org/x/sys/unix"
)

// Option configures Unpack.
type Option func(*options)

type options struct {
	wh   *whiteout.Writer
	warn func(msg string)
}

// WithWhiteoutWriter sets the writer for whiteouts and opaque markers.
// The default probes the filesystem of the target directory's parent.
func WithWhiteoutWriter(w *whiteout.Writer) Option { return func(o *options) { o.wh = w } }

// WithWarn sets a callback for non-fatal problems (skipped device nodes,
// refused xattrs); each kind is reported once per Unpack. Default: ignore.
func WithWarn(f func(msg string)) Option { return func(o *options) { o.warn = f } }

// Stats counts what Unpack wrote.
type Stats struct {
	Entries        int   // tar entries applied
	Bytes          int64 // regular file content written
	Whiteouts      int
	Opaques        int
	SkippedDevices int
}

// Unpack reads the tar stream r and applies it to dir, an existing empty
// directory. It returns an error wrapping oci.ErrUnsafePath or
// oci.ErrMalformedLayer for hostile or malformed layers; dir is then in an
// unspecified state (but nothing outside it was touched) and the caller
// discards it. Unpack needs Linux 5.6 or later (openat2).
func Unpack(ctx context.Context, r io.Reader, dir string, opts ...Option) (Stats, error) {
	o := options{warn: func(string) {}}
	for _, f := range opts {
		f(&o)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("unpack layer: %w", err)
	}
	if o.wh == nil {
		if o.wh, err = whiteout.NewWriter(filepath.Dir(dir)); err != nil {
			return Stats{}, fmt.Errorf("unpack layer: %w", err)
		}
	}
	rootfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return Stats{}, fmt.Errorf("unpack layer: %w", err)
	}
	defer unix.Close(rootfd)
	u := &unpacker{
		root: dir, rootfd: rootfd, o: o,
		entries: map[string]bool{}, whiteouts: map[string]bool{},
		warned: map[string]bool{}, dirMeta: map[string]*tar.Header{},
	}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return u.st, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return u.st, fmt.Errorf("unpack layer: read tar: %w", err)
		}
		if err := u.apply(hdr, tr); err != nil {
			return u.st, fmt.Errorf("unpack layer: %s: %w", hdr.Name, err)
		}
	}
	// Directory modes and times last: writing into a directory changes
	// its mtime, and a read-only mode would stop an unprivileged unpack.
	for i := len(u.dirOrder) - 1; i >= 0; i-- {
		p := u.dirOrder[i]
		if err := u.finishDir(p, u.dirMeta[p]); err != nil {
			return u.st, fmt.Errorf("unpack layer: %s: %w", p, err)
		}
	}
	return u.st, nil
}

type unpacker struct {
	root      string
	rootfd    int
	o         options
	st        Stats
	entries   map[string]bool // every path that exists in this layer, implicit parents too
	whiteouts map[string]bool // paths this layer whites out
	warned    map[string]bool
	dirMeta   map[string]*tar.Header // metadata for directories, applied at the end
	dirOrder  []string
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", oci.ErrMalformedLayer, fmt.Sprintf(format, a...))
}

func (u *unpacker) warnOnce(kind, msg string) {
	if !u.warned[kind] {
		u.warned[kind] = true
		u.o.warn(msg)
	}
}

func (u *unpacker) abs(rel string) string {
	if rel == "" {
		return u.root
	}
	return u.root + "/" + rel
}

// addEntry records that p exists in this layer, with its parents, and
// refuses it if this layer whites out p or one of its parents.
func (u *unpacker) addEntry(p string) error {
	for q := p; q != "" && q != "."; q = path.Dir(q) {
		if u.whiteouts[q] {
			return malformed("%q is both whited out and present in the layer", q)
		}
		u.entries[q] = true
	}
	return nil
}

// openDir opens the layer directory rel (O_PATH), creating missing
// components with mode 0755. No component may be a symlink, and the
// resolution cannot leave the layer (RESOLVE_BENEATH).
func (u *unpacker) openDir(rel string, create bool) (int, error) {
	if rel == "" {
		return unix.Dup(u.rootfd)
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(u.rootfd, rel, &how)
		switch {
		case err == nil:
			return fd, nil
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err == unix.ELOOP || err == unix.EXDEV:
			return -1, fmt.Errorf("%w: %q passes through a symlink", oci.ErrUnsafePath, rel)
		case err == unix.ENOTDIR:
			return -1, malformed("%q: a parent is not a directory", rel)
		case err == unix.ENOENT && create:
			pfd, err := u.openDir(parentOf(rel), true)
			if err != nil {
				return -1, err
			}
			err = unix.Mkdirat(pfd, path.Base(rel), 0o755)
			unix.Close(pfd)
			if err != nil && err != unix.EEXIST {
				return -1, fmt.Errorf("mkdir %s: %w", rel, err)
			}
			create = false // retry once
		default:
			return -1, fmt.Errorf("open %s: %w", rel, err)
		}
	}
}

func parentOf(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

func (u *unpacker) apply(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	p, err := CleanPath(hdr.Name)
	if err != nil {
		return err
	}
	u.st.Entries++
	if p == "" {
		if hdr.Typeflag != tar.TypeDir {
			return malformed("the root entry is not a directory")
		}
		u.noteDir("", hdr)
		return nil
	}
	dir, base := parentOf(p), path.Base(p)
	if dir != "" {
		for _, c := range strings.Split(dir, "/") {
			if k, _, _ := whiteout.ParseName(c); k != whiteout.Normal {
				return malformed("marker name %q used as a directory", c)
			}
		}
	}
	kind, target, err := whiteout.ParseName(base)
	if err != nil {
		return malformed("%v", err)
	}
	if kind == whiteout.Normal && hdr.Typeflag == tar.TypeChar && hdr.Devmajor == 0 && hdr.Devminor == 0 {
		kind, target = whiteout.Whiteout, base // already the overlay form
	}
	switch kind {
	case whiteout.Meta:
		return nil
	case whiteout.Opaque:
		if dir != "" {
			if err := u.addEntry(dir); err != nil {
				return err
			}
		}
		fd, err := u.openDir(dir, true)
		if err != nil {
			return err
		}
		unix.Close(fd)
		u.st.Opaques++
		return u.o.wh.SetOpaque(u.abs(dir))
	case whiteout.Whiteout:
		wp := path.Join(dir, target)
		if u.entries[wp] {
			return malformed("%q is both whited out and present in the layer", wp)
		}
		if dir != "" {
			if err := u.addEntry(dir); err != nil {
				return err
			}
		}
		fd, err := u.openDir(dir, true)
		if err != nil {
			return err
		}
		unix.Close(fd)
		if u.whiteouts[wp] {
			return nil
		}
		u.whiteouts[wp] = true
		u.st.Whiteouts++
		return u.o.wh.Whiteout(u.abs(dir), target)
	}
	if err := u.addEntry(p); err != nil {
		return err
	}
	pfd, err := u.openDir(dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	return u.create(pfd, p, base, hdr, r)
}

// create makes the entry base in the directory pfd (the layer path p).
func (u *unpacker) create(pfd int, p, base string, hdr *tar.Header, r io.Reader) error {
	var old unix.Stat_t
	exists := unix.Fstatat(pfd, base, &old, unix.AT_SYMLINK_NOFOLLOW) == nil
	if exists && !(hdr.Typeflag == tar.TypeDir && old.Mode&unix.S_IFMT == unix.S_IFDIR) {
		// A later entry replaces an earlier one of the same path.
		if err := os.RemoveAll(u.abs(p)); err != nil {
			return err
		}
		for q := range u.dirMeta {
			if q == p || strings.HasPrefix(q, p+"/") {
				delete(u.dirMeta, q)
			}
		}
		for q := range u.entries {
			if strings.HasPrefix(q, p+"/") {
				delete(u.entries, q)
			}
		}
		exists = false
	}
	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !exists {
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return fmt.Errorf("mkdir: %w", err)
			}
		}
		u.noteDir(p, hdr)
		return u.setXattrs(pfd, base, hdr)
	case tar.TypeReg, tar.TypeRegA:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("create: %w", err)
		}
		f := os.NewFile(uintptr(fd), p)
		n, err := io.Copy(f, r)
		u.st.Bytes += n
		if err == nil {
			err = u.chown(pfd, base, hdr)
		}
		if err == nil {
			err = f.Chmod(os.FileMode(mode) | unixModeBits(mode))
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write file: %w", err)
		}
	case tar.TypeSymlink:
		if hdr.Linkname == "" || strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return malformed("bad symlink target")
		}
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		if err := u.chown(pfd, base, hdr); err != nil {
			return err
		}
	case tar.TypeLink:
		return u.link(pfd, p, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknodat(pfd, base, typ|0o600, int(dev)); err != nil {
			if typ != unix.S_IFIFO && (err == unix.EPERM || err == unix.EACCES) {
				u.st.SkippedDevices++
				u.warnOnce("dev", "skipping device nodes: no permission to create them")
				return nil
			}
			return fmt.Errorf("mknod: %w", err)
		}
		if err := u.chown(pfd, base, hdr); err != nil {
			return err
		}
		if err := unix.Fchmodat(pfd, base, mode, 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	default:
		return malformed("unsupported tar entry type %q", hdr.Typeflag)
	}
	if err := u.setXattrs(pfd, base, hdr); err != nil {
		return err
	}
	return setTimes(pfd, base, hdr)
}

// unixModeBits maps setuid, setgid and sticky to os.FileMode bits.
func unixModeBits(m uint32) os.FileMode {
	var fm os.FileMode
	if m&unix.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

func (u *unpacker) link(pfd int, p, base string, hdr *tar.Header) error {
	target, err := CleanPath(hdr.Linkname)
	if err != nil {
		return err
	}
	if target == "" || target == p || !u.entries[target] {
		return malformed("hard link to %q, which is not an earlier entry of the layer", hdr.Linkname)
	}
	tfd, err := u.openDir(parentOf(target), false)
	if err != nil {
		return err
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if err := unix.Fstatat(tfd, path.Base(target), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return malformed("hard link to %q: %v", hdr.Linkname, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return malformed("hard link to directory %q", hdr.Linkname)
	}
	if err := unix.Linkat(tfd, path.Base(target), pfd, base, 0); err != nil {
		return fmt.Errorf("link: %w", err)
	}
	return nil
}

func (u *unpacker) chown(pfd int, base string, hdr *tar.Header) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if base == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	err := unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, flags)
	if err == unix.EPERM || err == unix.EINVAL {
		u.warnOnce("chown", "cannot preserve file owners: "+err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("chown: %w", err)
	}
	return nil
}

func (u *unpacker) setXattrs(pfd int, base string, hdr *tar.Header) error {
	var names []string
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	proc := fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
	for _, k := range names {
		name := strings.TrimPrefix(k, "SCHILY.xattr.")
		if whiteout.IsPrivateXattr(name) {
			u.warnOnce("private", "dropping union-private xattrs from the layer")
			continue
		}
		if err := unix.Lsetxattr(proc, name, []byte(hdr.PAXRecords[k]), 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
				u.warnOnce("xattr", fmt.Sprintf("cannot set some xattrs (%s): %v", name, err))
				continue
			}
			return fmt.Errorf("setxattr %s: %w", name, err)
		}
	}
	return nil
}

func setTimes(pfd int, base string, hdr *tar.Header) error {
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	ts := []unix.Timespec{unix.NsecToTimespec(at.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

func (u *unpacker) noteDir(p string, hdr *tar.Header) {
	if _, ok := u.dirMeta[p]; !ok {
		u.dirOrder = append(u.dirOrder, p)
	}
	u.dirMeta[p] = hdr
}

// finishDir sets a directory's owner, mode and times.
func (u *unpacker) finishDir(p string, hdr *tar.Header) error {
	if hdr == nil {
		return nil // replaced by a later non-directory entry
	}
	fd, err := u.openDir(p, false)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := u.chown(fd, "", hdr); err != nil {
		return err
	}
	proc := fmt.Sprintf("/proc/self/fd/%d", fd)
	if err := os.Chmod(proc, os.FileMode(hdr.Mode&0o777)|unixModeBits(uint32(hdr.Mode))); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	at := hdr.AccessTime
	if at.IsZero() {
		at = hdr.ModTime
	}
	if err := os.Chtimes(proc, at, hdr.ModTime); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}
