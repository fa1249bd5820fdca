package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fixtureTime is the mtime and atime of everything a layer builder makes, so
// that two builds of one spec are identical and a snapshot can tell an
// untouched entry ("old") from one the union changed ("new").
var fixtureTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

type kind int

const (
	kFile        kind = iota
	kDir              // made with its parents; an existing dir only gets its mode
	kSymlink          // target is the link text
	kHardlink         // target is an existing path in the same layer
	kFifo             // a named pipe
	kSparse           // size bytes, with data written at size/2
	kWhiteoutDev      // kernel whiteout: a 0/0 character device named path
	kWhiteoutWH       // OCI/AUFS whiteout: an empty file .wh.BASE next to path
	kOpaqueXattr      // kernel opaque dir: trusted.overlay.opaque=y
	kOpaqueWH         // OCI/AUFS opaque dir: holds an empty .wh..wh..opq
)

// entry is one thing in a layer spec. Build entries with the constructors
// below and refine them with the methods.
type entry struct {
	path   string
	kind   kind
	data   string
	target string
	size   int64
	perm   uint32 // permission and setuid/setgid/sticky bits; 0 means the default
	owner  int    // uid and gid, when non-zero
	xattrs [][2]string
}

// layer is the spec of one lower directory; a stack lists the top layer first,
// as lowerdir= does.
type layer []entry

func file(p, data string) entry         { return entry{path: p, kind: kFile, data: data} }
func dir(p string) entry                { return entry{path: p, kind: kDir} }
func symlink(p, target string) entry    { return entry{path: p, kind: kSymlink, target: target} }
func hardlink(p, existing string) entry { return entry{path: p, kind: kHardlink, target: existing} }
func fifo(p string) entry               { return entry{path: p, kind: kFifo} }
func sparse(p string, size int64, data string) entry {
	return entry{path: p, kind: kSparse, size: size, data: data}
}
func whiteoutDev(p string) entry { return entry{path: p, kind: kWhiteoutDev} }
func whiteoutWH(p string) entry  { return entry{path: p, kind: kWhiteoutWH} }
func opaqueXattr(p string) entry { return entry{path: p, kind: kOpaqueXattr} }
func opaqueWH(p string) entry    { return entry{path: p, kind: kOpaqueWH} }

func (e entry) mode(perm uint32) entry { e.perm = perm; return e }
func (e entry) own(id int) entry       { e.owner = id; return e }
func (e entry) xattr(name, value string) entry {
	e.xattrs = append(append([][2]string(nil), e.xattrs...), [2]string{name, value})
	return e
}

// buildStack builds each layer of stack under root/NAME-i and returns their
// paths, top first.
func buildStack(t *testing.T, root, name string, stack []layer) []string {
	t.Helper()
	var dirs []string
	for i, l := range stack {
		d := filepath.Join(root, fmt.Sprintf("%s%d", name, i))
		if err := buildLayer(d, l); err != nil {
			t.Fatalf("build layer %d of %s: %v", i, name, err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

// buildLayer makes dir and the entries of l in it, in order, then stamps every
// entry with fixtureTime.
func buildLayer(dir string, l layer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, e := range l {
		if err := buildEntry(dir, e); err != nil {
			return fmt.Errorf("build %s: %w", e.path, err)
		}
	}
	return stampTree(dir)
}

func buildEntry(root string, e entry) error {
	p := filepath.Join(root, e.path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	perm := e.perm
	var err error
	switch e.kind {
	case kFile:
		err = os.WriteFile(p, []byte(e.data), 0o644)
		perm = defaultPerm(perm, 0o644)
	case kDir, kOpaqueXattr, kOpaqueWH:
		if err = os.Mkdir(p, 0o755); os.IsExist(err) {
			err = nil
		}
		perm = defaultPerm(perm, 0o755)
		if err == nil && e.kind == kOpaqueXattr {
			err = unix.Setxattr(p, "trusted.overlay.opaque", []byte("y"), 0)
		}
		if err == nil && e.kind == kOpaqueWH {
			err = os.WriteFile(filepath.Join(p, ".wh..wh..opq"), nil, 0o644)
		}
	case kSymlink:
		err = os.Symlink(e.target, p)
	case kHardlink:
		err = os.Link(filepath.Join(root, e.target), p)
	case kFifo:
		err = unix.Mkfifo(p, 0o644)
		perm = defaultPerm(perm, 0o644)
	case kSparse:
		err = writeSparse(p, e.size, e.data)
		perm = defaultPerm(perm, 0o644)
	case kWhiteoutDev:
		err = unix.Mknod(p, unix.S_IFCHR, 0)
	case kWhiteoutWH:
		err = os.WriteFile(filepath.Join(filepath.Dir(p), ".wh."+filepath.Base(p)), nil, 0o644)
	}
	if err != nil {
		return err
	}
	if e.owner != 0 {
		if err := os.Lchown(p, e.owner, e.owner); err != nil {
			return err
		}
	}
	// After chown, which clears setuid and setgid.
	if perm != 0 {
		if err := unix.Chmod(p, perm); err != nil {
			return err
		}
	}
	for _, x := range e.xattrs {
		if err := unix.Lsetxattr(p, x[0], []byte(x[1]), 0); err != nil {
			return fmt.Errorf("setxattr %s: %w", x[0], err)
		}
	}
	return nil
}

func defaultPerm(perm, def uint32) uint32 {
	if perm == 0 {
		return def
	}
	return perm
}

func writeSparse(p string, size int64, data string) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return err
	}
	_, err = f.WriteAt([]byte(data), size/2)
	return err
}

// stampTree sets the atime and mtime of everything under dir, dir included,
// to fixtureTime. Setting times does not change a parent's mtime, so the
// order does not matter.
func stampTree(dir string) error {
	ts := unix.NsecToTimespec(fixtureTime.UnixNano())
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
	})
}
