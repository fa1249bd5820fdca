package unionfs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

// requireOverlay skips a test that cannot mount kernel overlayfs and
// lamina's FUSE daemon side by side, saying why.
func requireOverlay(t *testing.T) {
	t.Helper()
	requireFUSE(t)
	if inUserNS() {
		t.Skip("needs root in the initial user namespace (trusted.* xattrs, /run)")
	}
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil || !strings.Contains(string(b), "\toverlay\n") {
		t.Skip("needs kernel overlayfs (modprobe overlay)")
	}
}

// mountKernel mounts r with MountOverlay at mnt for the rest of the test,
// with a watchdog like layers.mount. Cleanup unmounts with Unmount, falls
// back to a lazy unmount, and removes the mount's shims.
func mountKernel(t *testing.T, r *MountRequest, mnt string, timeout time.Duration) {
	t.Helper()
	if err := MountOverlay(r, mnt); err != nil {
		t.Fatalf("MountOverlay: %v", err)
	}
	dog := time.AfterFunc(timeout, func() {
		t.Errorf("watchdog: test still running after %v; detaching %s", timeout, mnt)
		unix.Unmount(mnt, unix.MNT_DETACH)
	})
	t.Cleanup(func() {
		dog.Stop()
		if isMountpoint(mnt) {
			if err := Unmount(mnt); err != nil {
				unix.Unmount(mnt, unix.MNT_DETACH)
			}
		}
		removeShims(mnt)
	})
}

func isMountpoint(p string) bool {
	busy, err := shimsInUse(shimKey(p), "/nonexistent-lamina-shim")
	return err == nil && busy
}

// foreignLayers builds four lowers, top first, holding every whiteout and
// opaque format, foreign (to a trusted mount) and native, mixed. The
// comments say what the union must show.
func foreignLayers(t *testing.T) *layers {
	t.Helper()
	l := newLayers(t, 4)
	l0, l1, l2, l3 := l.lowers[0], l.lowers[1], l.lowers[2], l.lowers[3]
	p := filepath.Join

	// lower3, the bottom: what the layers above delete or hide.
	for _, f := range []string{"a/x", "a/y", "a/sub/deep", "b/old", "b/keep", "c/1",
		"e", "g/1", "h/1", "k/1", "k/2", "m/1", "n", "p/1", "p/2", "q/q1",
		"real/below", "deep/er/est/gone", "deep/er/est/stays", "one/f", "z/1"} {
		wt.File(t, p(l3, f), "bottom "+f)
	}
	symlink(t, "a/y", p(l3, "sym"))

	// lower2: every foreign format, and native ones beside them.
	wt.File(t, p(l2, "a/new"), "two")
	wt.Whiteout(t, p(l2, "a"), "x", wt.OCI)        // a/x gone
	wt.Whiteout(t, l2, "q", wt.OCI)                // the directory q gone
	wt.File(t, p(l2, "b/new"), "two")              //
	wt.Opaque(t, p(l2, "b"), wt.OpaqueFile)        // b/old, b/keep hidden
	wt.File(t, p(l2, "g/2"), "two")                //
	wt.Opaque(t, p(l2, "g"), wt.OpaqueFuse)        // g/1 hidden
	wt.File(t, p(l2, "h/2"), "two")                //
	wt.Opaque(t, p(l2, "h"), wt.OpaqueUser)        // h/1 hidden
	wt.Dir(t, p(l2, "k"))                          //
	wt.Whiteout(t, p(l2, "k"), "1", wt.XUser)      // k/1 gone
	wt.File(t, p(l2, ".wh..wh.plnk"), "")          // meta marker: hidden
	wt.File(t, p(l2, ".wh..wh.orph/junk"), "junk") // meta marker directory: hidden
	wt.File(t, p(l2, "c/.wh."), "")                // malformed marker: hidden
	wt.Opaque(t, l2, wt.OpaqueFile)                // a layer root is never opaque:
	wt.Opaque(t, l2, wt.OpaqueFuse)                // e still shows
	wt.File(t, p(l2, "real/mine"), "two")          //
	wt.Whiteout(t, l2, "real", wt.OCI)             // real entry wins: real merges
	wt.Dir(t, p(l2, "deep/er/est"))                //
	wt.Whiteout(t, p(l2, "deep/er/est"), "gone", wt.OCI)
	wt.Whiteout(t, l2, "n", wt.CharDev)          // native
	wt.Dir(t, p(l2, "p"))                        //
	wt.Whiteout(t, p(l2, "p"), "1", wt.XTrusted) // native
	wt.File(t, p(l2, "m/2"), "two")              //
	wt.Opaque(t, p(l2, "m"), wt.OpaqueTrusted)   // native
	wt.File(t, p(l2, "o"), "origin")             // a lamina origin, private
	wt.Xattr(t, p(l2, "o"), "user.lamina.origin", "42")
	wt.Dir(t, p(l2, "z")) // "x" marker, no xwhiteout
	wt.Xattr(t, p(l2, "z"), "user.overlay.opaque", "x")
	setMeta(t, p(l2, "a"), 0o750, 1234, 5678)
	wt.Xattr(t, p(l2, "a"), "user.note", "a of two")
	setMeta(t, p(l2, "deep/er"), 0o1777, 42, 43)
	setMeta(t, p(l2, "deep/er/est"), 0o2711, 7, 8)
	wt.Xattr(t, p(l2, "deep/er/est"), "user.note", "est")
	setMeta(t, p(l2, "k"), 0o700, 99, 98)
	wt.Xattr(t, p(l2, "h"), "user.note", "h")

	// lower1: plain, no markers; it tops some of lower2's directories.
	wt.File(t, p(l1, "h/3"), "one")   // merges with lower2's opaque h
	wt.File(t, p(l1, "one/g"), "one") //
	wt.File(t, p(l1, "b/one"), "one") //
	setMeta(t, p(l1, "b"), 0o705, 11, 12)

	// lower0, the top: foreign markers again, and the root's metadata.
	wt.Whiteout(t, p(l0, "one"), "g", wt.OCI)   // lower1's one/g gone
	wt.Whiteout(t, p(l0, "one"), "f", wt.XUser) // lower3's one/f gone
	wt.File(t, p(l0, "top"), "zero")            //
	wt.Dir(t, p(l0, "c"))                       //
	wt.Opaque(t, p(l0, "c"), wt.OpaqueUser)     // c/1 hidden
	wt.Xattr(t, l0, "user.root", "top")         //
	setMeta(t, l0, 0o751, 4321, 8765)

	for i, lo := range l.lowers {
		stampTimes(t, lo, int64(i))
	}
	return l
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	wt.Dir(t, filepath.Dir(path))
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// setMeta sets owner and permission bits (setuid, setgid and sticky
// included, as in st_mode).
func setMeta(t *testing.T, path string, mode uint32, uid, gid int) {
	t.Helper()
	if err := os.Lchown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fchmodat(unix.AT_FDCWD, path, mode, 0); err != nil {
		t.Fatal(err)
	}
}

// stampTimes gives every entry of root a distinct, fixed atime and mtime
// (nanoseconds included), after all its content is made.
func stampTimes(t *testing.T, root string, layer int64) {
	t.Helper()
	base := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC).UnixNano()
	err := filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		h := sha256.Sum256([]byte(fmt.Sprint(layer, path[len(root):])))
		ns := base + int64(h[0])<<32 + int64(h[1])<<24 + int64(h[2])<<8 + int64(h[3])
		ts := unix.NsecToTimespec(ns)
		return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// viewEntry is what a differential test compares of one entry.
type viewEntry struct {
	Type, Perm, UID, GID uint32
	Size                 int64 // non-directories only
	Rdev                 uint64
	Mtime                int64
	Data                 string // content hash, or symlink target
	Xattrs               string // non-private xattrs, sorted
}

// readView walks a mounted union. It returns every entry and, apart, the
// private xattr names (whiteout.IsPrivateXattr) it shows, by path.
func readView(t *testing.T, root string) (map[string]viewEntry, map[string][]string) {
	t.Helper()
	view := map[string]viewEntry{}
	private := map[string][]string{}
	var walk func(rel string)
	walk = func(rel string) {
		abs := join(root, rel)
		var st unix.Stat_t
		if err := unix.Lstat(abs, &st); err != nil {
			t.Fatalf("lstat %s: %v", abs, err)
		}
		e := viewEntry{Type: st.Mode & unix.S_IFMT, Perm: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid,
			Rdev: st.Rdev, Mtime: st.Mtim.Nano()}
		switch e.Type {
		case unix.S_IFREG:
			b, err := os.ReadFile(abs)
			if err != nil {
				t.Fatalf("read %s: %v", abs, err)
			}
			e.Data = fmt.Sprintf("%x", sha256.Sum256(b))
		case unix.S_IFLNK:
			target, err := os.Readlink(abs)
			if err != nil {
				t.Fatalf("readlink %s: %v", abs, err)
			}
			e.Data = target
		}
		if e.Type != unix.S_IFDIR {
			e.Size = st.Size
		}
		x, priv := readXattrs(t, abs)
		e.Xattrs = x
		if len(priv) > 0 {
			private[rel] = priv
		}
		view[rel] = e
		if e.Type != unix.S_IFDIR {
			return
		}
		ents, err := os.ReadDir(abs)
		if err != nil {
			t.Fatalf("readdir %s: %v", abs, err)
		}
		for _, d := range ents {
			walk(join0(rel, d.Name()))
		}
	}
	walk("")
	return view, private
}

// join0 joins a relative path and a name; "" is the root.
func join0(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

// readXattrs returns path's non-private xattrs as one sorted string, and
// the names of its private ones.
func readXattrs(t *testing.T, path string) (string, []string) {
	t.Helper()
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(path, buf)
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) {
			return "", nil
		}
		t.Fatalf("listxattr %s: %v", path, err)
	}
	var keep, priv []string
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if name == "" {
			continue
		}
		if whiteout.IsPrivateXattr(name) {
			priv = append(priv, name)
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(path, name, v)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", path, name, err)
		}
		keep = append(keep, name+"="+string(v[:m]))
	}
	sort.Strings(keep)
	sort.Strings(priv)
	return strings.Join(keep, ";"), priv
}

// diffViews reports every entry that differs between the kernel's and
// lamina's views.
func diffViews(t *testing.T, kernel, fuse map[string]viewEntry) {
	t.Helper()
	var names []string
	for k := range kernel {
		names = append(names, k)
	}
	for k := range fuse {
		if _, ok := kernel[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		k, kok := kernel[name]
		f, fok := fuse[name]
		switch {
		case !kok:
			t.Errorf("%q: only lamina shows it: %+v", name, f)
		case !fok:
			t.Errorf("%q: only the kernel shows it: %+v", name, k)
		case k != f:
			t.Errorf("%q differs:\n kernel %+v\n lamina %+v", name, k, f)
		}
	}
}

// treeHash records everything about a layer tree that a write would
// change: per path the lstat fields but atime, the content, the symlink
// target and every xattr.
func treeHash(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "ino=%d mode=%o nlink=%d uid=%d gid=%d size=%d rdev=%d mtime=%d ctime=%d",
			st.Ino, st.Mode, st.Nlink, st.Uid, st.Gid, st.Size, st.Rdev, st.Mtim.Nano(), st.Ctim.Nano())
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " data=%x", sha256.Sum256(data))
		case unix.S_IFLNK:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " target=%q", target)
		}
		buf := make([]byte, 64<<10)
		n, err := unix.Llistxattr(path, buf)
		if err != nil {
			return err
		}
		names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
		sort.Strings(names)
		for _, name := range names {
			if name == "" {
				continue
			}
			v := make([]byte, 64<<10)
			m, err := unix.Lgetxattr(path, name, v)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %s=%q", name, v[:m])
		}
		out[path[len(root):]] = b.String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func hashLowers(t *testing.T, l *layers) []map[string]string {
	var out []map[string]string
	for _, lo := range l.lowers {
		out = append(out, treeHash(t, lo))
	}
	return out
}

func checkLowersUntouched(t *testing.T, l *layers, before []map[string]string) {
	t.Helper()
	after := hashLowers(t, l)
	for i := range before {
		if !reflect.DeepEqual(before[i], after[i]) {
			for p, v := range before[i] {
				if after[i][p] != v {
					t.Errorf("lower %d %q changed:\n before %s\n after  %s", i, p, v, after[i][p])
				}
			}
			for p := range after[i] {
				if _, ok := before[i][p]; !ok {
					t.Errorf("lower %d %q appeared", i, p)
				}
			}
		}
	}
}

// probes are names whose lookup (not readdir) the two views must agree
// on; want says whether the name exists.
var probes = map[string]bool{
	"a/x": false, "a/.wh.x": false, "a/y": true, "a/new": true, "q": false, ".wh.q": false,
	"b/old": false, "b/keep": false, "b/new": true, "b/one": true, "b/.wh..wh..opq": false,
	"g/1": false, "g/2": true, "h/1": false, "h/2": true, "h/3": true,
	"k/1": false, "k/2": true, ".wh..wh.plnk": false, ".wh..wh.orph": false, "c/.wh.": false,
	"c/1": false, "real": true, "real/mine": true, "real/below": true, ".wh.real": false,
	"deep/er/est/gone": false, "deep/er/est/stays": true, "deep/er/est/.wh.gone": false,
	"n": false, "p/1": false, "p/2": true, "m/1": false, "m/2": true,
	"one/f": false, "one/g": false, "one/.wh.g": false, "top": true, "sym": true, "o": true, "z/1": true,
	"e": true, ".wh..wh..opq": false,
}

// wantKernelPrivate is every private xattr the kernel shows and lamina
// hides in the foreignLayers view: those on entries no shim covers.
var wantKernelPrivate = map[string][]string{
	"o": {"user.lamina.origin"},
	"z": {"user.overlay.opaque"},
}

func checkProbes(t *testing.T, name, mnt string) {
	t.Helper()
	for p, want := range probes {
		_, err := os.Lstat(filepath.Join(mnt, p))
		if got := err == nil; got != want {
			t.Errorf("%s: lookup %q: exists=%v, want %v (%v)", name, p, got, want, err)
		}
	}
}

// TestOverlayShimMatchesFUSE: kernel overlayfs over shimmed layers shows
// exactly what lamina's FUSE daemon shows, and no lower changes.
func TestOverlayShimMatchesFUSE(t *testing.T) {
	requireOverlay(t)
	for _, ro := range []bool{true, false} {
		name := map[bool]string{true: "read-only", false: "with upper"}[ro]
		t.Run(name, func(t *testing.T) {
			l := foreignLayers(t)
			before := hashLowers(t, l)

			base := t.TempDir()
			kl := &layers{lowers: l.lowers, mnt: filepath.Join(base, "kmnt")}
			fl := &layers{lowers: l.lowers, mnt: l.mnt, upper: l.upper, work: l.work}
			r := &MountRequest{Config: Config{Lowers: l.lowers}}
			if !ro {
				kl.upper, kl.work = filepath.Join(base, "kupper"), filepath.Join(base, "kwork")
				r.Config.Upper, r.Config.Work = kl.upper, kl.work
			}
			for _, d := range []string{kl.mnt, kl.upper, kl.work} {
				if d != "" {
					wt.Dir(t, d)
				}
			}
			if !ro { // both upper roots alike: the root shows the upper's metadata
				for _, u := range []string{kl.upper, fl.upper} {
					setMeta(t, u, 0o755, 0, 0)
					stampTimes(t, u, 99)
				}
			}

			if d, why := ChooseDriver(DriverAuto, r); d != DriverOverlay {
				t.Fatalf("ChooseDriver = %s (%s), want overlay", d, why)
			}
			mountKernel(t, r, kl.mnt, 2*time.Minute)
			fl.mount(t, ro, 2*time.Minute)

			kview, kpriv := readView(t, kl.mnt)
			fview, fpriv := readView(t, fl.mnt)
			diffViews(t, kview, fview)
			if len(fpriv) > 0 {
				t.Errorf("lamina shows private xattrs: %v", fpriv)
			}
			if !reflect.DeepEqual(kpriv, wantKernelPrivate) {
				t.Errorf("kernel shows private xattrs %v, want exactly %v", kpriv, wantKernelPrivate)
			}
			checkProbes(t, "kernel", kl.mnt)
			checkProbes(t, "lamina", fl.mnt)
			if t.Failed() {
				dir, _ := shimDirFor(kl.mnt)
				t.Logf("shims in %s", dir)
			}

			if err := Unmount(kl.mnt); err != nil {
				t.Fatal(err)
			}
			checkLowersUntouched(t, l, before)
		})
	}
}

// TestOverlayShimLayout: the lowerdir list is T_L, L, B_L for each
// converted lower, and the shims hold what the design says.
func TestOverlayShimLayout(t *testing.T) {
	requireOverlay(t)
	l := foreignLayers(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	wt.Dir(t, mnt)
	mountKernel(t, &MountRequest{Config: Config{Lowers: l.lowers}}, mnt, time.Minute)
	dir, err := shimDirFor(mnt)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		dir + "/0.above", l.lowers[0], dir + "/0.below",
		l.lowers[1],
		dir + "/2.above", l.lowers[2], dir + "/2.below",
		l.lowers[3],
	}
	if got := mountedLowers(t, mnt); !reflect.DeepEqual(got, want) {
		t.Errorf("lowerdirs\n got  %q\n want %q", got, want)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if want := []string{"0.above", "0.below", "2.above", "2.below"}; !reflect.DeepEqual(names, want) {
		t.Errorf("shim dir holds %q, want %q", names, want)
	}
	isWhiteout := func(p string) bool {
		var st unix.Stat_t
		return unix.Lstat(p, &st) == nil && st.Mode == unix.S_IFCHR && st.Rdev == 0
	}
	for _, p := range []string{"2.above/a/.wh.x", "2.above/.wh.q", "2.above/b/.wh..wh..opq",
		"2.above/k/1", "2.above/.wh..wh.plnk", "2.above/.wh..wh.orph", "2.above/c/.wh.",
		"2.above/.wh.real", "2.below/a/x", "2.below/q", "2.below/k/1", "2.below/deep/er/est/gone",
		"0.above/one/.wh.g", "0.above/one/f", "0.below/one/g", "0.below/one/f"} {
		if !isWhiteout(filepath.Join(dir, p)) {
			t.Errorf("%s is not a 0/0 whiteout", p)
		}
	}
	for _, p := range []string{"2.below/real", "2.below/n", "2.below/p", "2.above/n", "2.above/m"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s exists; nothing should", p)
		}
	}
	for _, p := range []string{"2.below/b", "2.below/g", "2.below/h", "0.below/c"} {
		v := make([]byte, 8)
		n, err := unix.Lgetxattr(filepath.Join(dir, p), "trusted.overlay.opaque", v)
		if err != nil || string(v[:n]) != "y" {
			t.Errorf("%s: trusted.overlay.opaque = %q, %v; want y", p, v[:n], err)
		}
		if ents, _ := os.ReadDir(filepath.Join(dir, p)); len(ents) != 0 {
			t.Errorf("%s is not empty", p)
		}
	}
	// T_L directories carry L's metadata, times included.
	for _, rel := range []string{"", "a", "deep/er", "deep/er/est", "k", "h", "g", "c"} {
		src, dst := join(l.lowers[2], rel), join(filepath.Join(dir, "2.above"), rel)
		var s, d unix.Stat_t
		if err := unix.Lstat(src, &s); err != nil {
			t.Fatal(err)
		}
		if err := unix.Lstat(dst, &d); err != nil {
			t.Errorf("%q missing from T_L: %v", rel, err)
			continue
		}
		sx, _ := readXattrs(t, src)
		dx, dpriv := readXattrs(t, dst)
		if s.Mode != d.Mode || s.Uid != d.Uid || s.Gid != d.Gid || s.Mtim != d.Mtim || s.Atim != d.Atim || sx != dx || len(dpriv) > 0 {
			t.Errorf("T_L %q: mode %o uid %d gid %d mtime %v atime %v xattrs %q %v; L: mode %o uid %d gid %d mtime %v atime %v xattrs %q",
				rel, d.Mode, d.Uid, d.Gid, d.Mtim, d.Atim, dx, dpriv, s.Mode, s.Uid, s.Gid, s.Mtim, s.Atim, sx)
		}
	}
}

// mountedLowers reads the lowerdir list of the overlay at mnt from
// /proc/self/mountinfo.
func mountedLowers(t *testing.T, mnt string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, " ")
		if len(f) < 10 || unescapeMountinfo(f[4]) != mnt {
			continue
		}
		var out []string
		for _, o := range strings.Split(f[len(f)-1], ",") {
			switch {
			case strings.HasPrefix(o, "lowerdir+="):
				out = append(out, unescapeMountinfo(strings.TrimPrefix(o, "lowerdir+=")))
			case strings.HasPrefix(o, "lowerdir="):
				for _, p := range strings.Split(strings.TrimPrefix(o, "lowerdir="), ":") {
					out = append(out, unescapeMountinfo(p))
				}
			}
		}
		return out
	}
	t.Fatalf("%s is not mounted", mnt)
	return nil
}

// TestOverlayShimRebuild: a second mount at the same place rebuilds the
// shims from scratch (stale content and leftover builds go), a mounted
// shim directory is never removed, and Unmount removes the shims.
func TestOverlayShimRebuild(t *testing.T) {
	requireOverlay(t)
	l := foreignLayers(t)
	before := hashLowers(t, l)
	mnt := filepath.Join(t.TempDir(), "mnt")
	wt.Dir(t, mnt)
	r := &MountRequest{Config: Config{Lowers: l.lowers}}
	dir, err := shimDirFor(mnt)
	if err != nil {
		t.Fatal(err)
	}

	mountKernel(t, r, mnt, time.Minute)
	first, _ := readView(t, mnt)
	shims := shimHash(t, dir)

	// While mounted: no rebuild, no removal.
	if err := MountOverlay(r, mnt); err == nil {
		t.Fatal("second MountOverlay on a mounted mountpoint succeeded")
	}
	if err := clearShims(mnt, dir); !errors.Is(err, ErrShimsInUse) {
		t.Errorf("clearShims while mounted = %v, want ErrShimsInUse", err)
	}
	if err := removeShims(mnt); err != nil {
		t.Errorf("removeShims while mounted: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("shims of a mounted overlay removed: %v", err)
	}

	// Unmount behind lamina's back: the shims stay, stale; spoil them.
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	wt.File(t, filepath.Join(dir, "2.above/a/stale"), "stale")
	wt.File(t, filepath.Join(dir, "5.above/junk"), "stale")
	wt.File(t, dir+".tmp-123/junk", "stale")

	mountKernel(t, r, mnt, time.Minute)
	second, _ := readView(t, mnt)
	diffViews(t, second, first)
	if got := shimHash(t, dir); !reflect.DeepEqual(got, shims) {
		t.Errorf("rebuilt shims differ:\n got  %v\n want %v", got, shims)
	}
	if _, err := os.Lstat(dir + ".tmp-123"); err == nil {
		t.Error("leftover temporary build not removed")
	}

	if err := Unmount(mnt); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Unmount left the shims at %s (%v)", dir, err)
	}
	checkLowersUntouched(t, l, before)
}

// shimHash is treeHash of a shim directory without what a rebuild
// changes: inode numbers and ctimes, and the mtimes of B_L's directories
// and of the devices (made at build time, never shown).
func shimHash(t *testing.T, root string) map[string]string {
	out := treeHash(t, root)
	delete(out, "")
	for k, v := range out {
		below := strings.Contains(strings.SplitN(k[1:], "/", 2)[0], ".below")
		var keep []string
		for _, x := range strings.Fields(v) {
			switch {
			case strings.HasPrefix(x, "ino="), strings.HasPrefix(x, "ctime="):
			case strings.HasPrefix(x, "mtime=") && (below || strings.Contains(v, "mode=20000 ")):
			default:
				keep = append(keep, x)
			}
		}
		out[k] = strings.Join(keep, " ")
	}
	return out
}

// TestOverlayNoShims: layers the kernel reads natively get no shims, and
// no shim directory is made. Paths with the separators of mount(2)'s
// option string need no escaping with "lowerdir+".
func TestOverlayNoShims(t *testing.T) {
	requireOverlay(t)
	l := newLayers(t, 2)
	l.lowers[0] += `,low:er\0`
	wt.Dir(t, l.lowers[0])
	wt.File(t, filepath.Join(l.lowers[1], "a/x"), "x")
	wt.File(t, filepath.Join(l.lowers[1], "a/y"), "y")
	wt.Dir(t, filepath.Join(l.lowers[0], "a"))
	wt.Whiteout(t, filepath.Join(l.lowers[0], "a"), "x", wt.CharDev)
	mnt := filepath.Join(t.TempDir(), "mnt")
	wt.Dir(t, mnt)
	mountKernel(t, &MountRequest{Config: Config{Lowers: l.lowers}}, mnt, time.Minute)
	if got := mountedLowers(t, mnt); !reflect.DeepEqual(got, l.lowers) {
		t.Errorf("lowerdirs %q, want %q", got, l.lowers)
	}
	dir, _ := shimDirFor(mnt)
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("shim dir %s made for native layers (%v)", dir, err)
	}
	if _, err := os.Lstat(filepath.Join(mnt, "a/x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a/x visible: %v", err)
	}
}

// TestDriverForeignUpper: an upper with markers the kernel cannot read
// makes auto choose FUSE and an explicit overlay mount fail; with "ro" the
// upper becomes a lower and is converted.
func TestDriverForeignUpper(t *testing.T) {
	wt.RequireRoot(t)
	if inUserNS() {
		t.Skip("needs root in the initial user namespace")
	}
	forms := map[string]func(t *testing.T, upper string){
		"oci whiteout": func(t *testing.T, u string) { wt.Whiteout(t, filepath.Join(u, "d"), "x", wt.OCI) },
		"opaque file": func(t *testing.T, u string) {
			wt.Dir(t, filepath.Join(u, "d"))
			wt.Opaque(t, filepath.Join(u, "d"), wt.OpaqueFile)
		},
		"opaque fuse": func(t *testing.T, u string) {
			wt.Dir(t, filepath.Join(u, "d"))
			wt.Opaque(t, filepath.Join(u, "d"), wt.OpaqueFuse)
		},
		"xwhiteout": func(t *testing.T, u string) {
			wt.Dir(t, filepath.Join(u, "d"))
			wt.Whiteout(t, filepath.Join(u, "d"), "x", wt.XUser)
		},
	}
	for name, mk := range forms {
		t.Run(name, func(t *testing.T) {
			l := newLayers(t, 1)
			wt.File(t, filepath.Join(l.lowers[0], "d/x"), "x")
			mk(t, l.upper)
			r := &MountRequest{Config: Config{Lowers: l.lowers, Upper: l.upper, Work: l.work}}
			d, why := ChooseDriver(DriverAuto, r)
			if d != DriverFUSE || !strings.Contains(why, "upperdir") {
				t.Errorf("ChooseDriver = %s (%s), want fuse because of the upperdir", d, why)
			}
			t.Logf("reason: %s", why)
			err := MountOverlay(r, l.mnt)
			if !errors.Is(err, ErrForeignUpper) {
				if err == nil {
					unix.Unmount(l.mnt, unix.MNT_DETACH)
				}
				t.Errorf("MountOverlay = %v, want ErrForeignUpper", err)
			}
			r.ReadOnly = true
			if d, why := ChooseDriver(DriverAuto, r); d != DriverOverlay {
				t.Errorf("read-only: ChooseDriver = %s (%s), want overlay", d, why)
			}
			mountKernel(t, r, l.mnt, time.Minute)
			if _, err := os.Lstat(filepath.Join(l.mnt, "d/x")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("read-only: d/x visible (%v)", err)
			}
			if err := os.WriteFile(filepath.Join(l.mnt, "new"), nil, 0o644); !errors.Is(err, unix.EROFS) {
				t.Errorf("read-only: create = %v, want EROFS", err)
			}
		})
	}
}

// TestOverlayShimLimit: two shims per converted lower count against the
// kernel's 500 lowers. At exactly 500 the kernel mounts; beyond, auto
// chooses FUSE and MountOverlay fails.
func TestOverlayShimLimit(t *testing.T) {
	requireOverlay(t)
	for _, c := range []struct {
		name      string
		n, marked int
		ok        bool
	}{
		{"500 lowers", 200, 150, true},
		{"502 lowers", 200, 151, false},
		{"501 plain lowers", 501, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLayers(t, 0)
			base := t.TempDir()
			for i := 0; i < c.n; i++ {
				lo := filepath.Join(base, fmt.Sprintf("l%03d", i))
				wt.File(t, filepath.Join(lo, fmt.Sprintf("f%03d", i)), "x")
				if i < c.marked {
					wt.Whiteout(t, lo, fmt.Sprintf("f%03d", i+1), wt.OCI)
				}
				l.lowers = append(l.lowers, lo)
			}
			r := &MountRequest{Config: Config{Lowers: l.lowers}}
			d, why := ChooseDriver(DriverAuto, r)
			t.Logf("ChooseDriver: %s (%s)", d, why)
			if c.ok != (d == DriverOverlay) {
				t.Errorf("ChooseDriver = %s (%s)", d, why)
			}
			if !c.ok {
				if err := MountOverlay(r, l.mnt); !errors.Is(err, ErrTooManyLowers) {
					if err == nil {
						unix.Unmount(l.mnt, unix.MNT_DETACH)
					}
					t.Errorf("MountOverlay = %v, want ErrTooManyLowers", err)
				}
				return
			}
			mountKernel(t, r, l.mnt, time.Minute)
			if got := len(mountedLowers(t, l.mnt)); got != 500 {
				t.Errorf("kernel has %d lowers, want 500", got)
			}
			for i := 0; i < c.n; i++ {
				_, err := os.Lstat(filepath.Join(l.mnt, fmt.Sprintf("f%03d", i)))
				if want := i == 0 || i > c.marked; want != (err == nil) {
					t.Errorf("f%03d: exists %v, want %v", i, err == nil, want)
				}
				if _, err := os.Lstat(filepath.Join(l.mnt, fmt.Sprintf(".wh.f%03d", i))); err == nil {
					t.Errorf(".wh.f%03d visible", i)
				}
			}
		})
	}
}

// TestOverlayLegacyMount: the mount(2) fallback escapes separators, and
// refuses option data beyond one page with a clear error.
func TestOverlayLegacyMount(t *testing.T) {
	requireOverlay(t)
	l := newLayers(t, 2)
	l.lowers[0] += `,low:er\\0`
	wt.File(t, filepath.Join(l.lowers[0], "top"), "0")
	wt.File(t, filepath.Join(l.lowers[1], "bottom"), "1")
	if err := mountOverlayLegacy(l.mnt, l.lowers, "", "", false, true, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(l.mnt, 0); err != nil {
			unix.Unmount(l.mnt, unix.MNT_DETACH)
		}
	})
	for _, f := range []string{"top", "bottom"} {
		if _, err := os.Lstat(filepath.Join(l.mnt, f)); err != nil {
			t.Error(err)
		}
	}
	long := make([]string, 200)
	for i := range long {
		long[i] = filepath.Join(t.TempDir(), strings.Repeat("x", 40))
	}
	err := mountOverlayLegacy(filepath.Join(t.TempDir()), long, "", "", false, true, "")
	if err == nil || !strings.Contains(err.Error(), "one page") {
		t.Errorf("long option data: %v, want the one-page error", err)
	}
}

// TestOverlayMountError: a kernel refusal carries the kernel's message.
func TestOverlayMountError(t *testing.T) {
	requireOverlay(t)
	l := newLayers(t, 1)
	f := filepath.Join(t.TempDir(), "file")
	wt.File(t, f, "")
	err := mountOverlayFS(l.mnt, []string{l.lowers[0], f}, "", "", false, true, "")
	if err == nil {
		unix.Unmount(l.mnt, unix.MNT_DETACH)
		t.Fatal("mounted a regular file as a lower")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), f) {
		t.Errorf("error %q does not name %s", err, f)
	}
}

// TestOverlayShimCopyUpRemount: the kernel copies a directory whose
// topmost copy is in T_L up with L's metadata, and the union still works
// after a remount rebuilds the shims (the copy's origin handle then names
// a shim that is gone).
func TestOverlayShimCopyUpRemount(t *testing.T) {
	requireOverlay(t)
	l := foreignLayers(t)
	before := hashLowers(t, l)
	r := &MountRequest{Config: Config{Lowers: l.lowers, Upper: l.upper, Work: l.work}}
	mountKernel(t, r, l.mnt, time.Minute)
	var a0 unix.Stat_t
	if err := unix.Lstat(filepath.Join(l.mnt, "a"), &a0); err != nil {
		t.Fatal(err)
	}
	wt.File(t, filepath.Join(l.mnt, "a/made"), "up")
	if err := os.Remove(filepath.Join(l.mnt, "a/y")); err != nil {
		t.Fatal(err)
	}
	var up unix.Stat_t
	if err := unix.Lstat(filepath.Join(l.upper, "a"), &up); err != nil {
		t.Fatal(err)
	}
	if up.Mode != a0.Mode || up.Uid != a0.Uid || up.Gid != a0.Gid {
		t.Errorf("copied-up a: mode %o %d:%d, want %o %d:%d", up.Mode, up.Uid, up.Gid, a0.Mode, a0.Uid, a0.Gid)
	}
	if x, priv := readXattrs(t, filepath.Join(l.upper, "a")); x != "user.note=a of two" {
		t.Errorf("copied-up a: xattrs %q (private %v)", x, priv)
	}
	if err := Unmount(l.mnt); err != nil {
		t.Fatal(err)
	}
	mountKernel(t, r, l.mnt, time.Minute)
	ents, err := os.ReadDir(filepath.Join(l.mnt, "a"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if want := []string{"made", "new", "sub"}; !reflect.DeepEqual(names, want) {
		t.Errorf("a after remount: %q, want %q", names, want)
	}
	if err := Unmount(l.mnt); err != nil {
		t.Fatal(err)
	}
	checkLowersUntouched(t, l, before)
}
