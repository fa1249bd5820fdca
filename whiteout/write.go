package whiteout

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Whiteout whites out name in dir, a directory of the upper layer, in the
// writer's format: a 0/0 device dir/name, or an empty file dir/.wh.NAME
// when the filesystem refuses the device (also if it starts refusing after
// the probe).
//
// dir/name must not exist: if it is a real entry, Whiteout returns an
// error that matches unix.EEXIST. Whiting out a name that already is whited
// out in place succeeds. A marker name or invalid name yields ErrBadName.
//
// Preconditions: the caller serialises changes to dir.
func (w *Writer) Whiteout(dir, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("create whiteout %q: %w", name, err)
	}
	path := join(dir, name)
	if w.whiteouts == whiteoutCharDev {
		err := unix.Mknod(path, unix.S_IFCHR, 0)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EEXIST):
			if isCharWhiteoutAt(path) {
				return nil
			}
			return fmt.Errorf("create whiteout %s: %w", path, err)
		case !isCharDevRefused(err):
			return fmt.Errorf("create whiteout %s: %w", path, err)
		}
	}
	var st unix.Stat_t
	switch err := unix.Lstat(path, &st); {
	case err == nil:
		if isCharWhiteout(&st) {
			return nil
		}
		return fmt.Errorf("create whiteout %s: %w", path, unix.EEXIST)
	case !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("create whiteout %s: %w", path, err)
	}
	marker := join(dir, WhiteoutName(name))
	if err := createEmpty(marker); err != nil {
		return fmt.Errorf("create whiteout %s: %w", marker, err)
	}
	return nil
}

// Remove removes every whiteout of name in dir: a 0/0 device at dir/name,
// an xwhiteout at dir/name that Lookup would honour, and dir/.wh.NAME. It
// succeeds when there is none. A real entry at dir/name is left alone, so
// Remove followed by creating name is the way to create over a whiteout.
//
// Preconditions: the caller serialises changes to dir; between the check
// and the unlink nobody else may replace dir/name.
func (w *Writer) Remove(dir, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("remove whiteout %q: %w", name, err)
	}
	path := join(dir, name)
	var st unix.Stat_t
	switch err := unix.Lstat(path, &st); {
	case err == nil:
		wh, err := isWhiteoutInDir(dir, path, &st)
		if err != nil {
			return fmt.Errorf("remove whiteout %s: %w", path, err)
		}
		if wh {
			if err := unlink(path); err != nil {
				return fmt.Errorf("remove whiteout %s: %w", path, err)
			}
		}
	case !errors.Is(err, unix.ENOENT):
		return fmt.Errorf("remove whiteout %s: %w", path, err)
	}
	marker := join(dir, WhiteoutName(name))
	if err := unlink(marker); err != nil && !errors.Is(err, unix.ENAMETOOLONG) {
		return fmt.Errorf("remove whiteout %s: %w", marker, err)
	}
	return nil
}

// isWhiteoutInDir is isWhiteout for an entry whose directory has not been
// inspected yet: it reads dir's xattrs only for a candidate xwhiteout.
func isWhiteoutInDir(dir, path string, st *unix.Stat_t) (bool, error) {
	if isCharWhiteout(st) {
		return true, nil
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
		return false, nil
	}
	x, err := readDirXattrs(dir)
	if err != nil {
		return false, err
	}
	return isWhiteout(path, st, x.info().XWhiteouts)
}

// SetOpaque marks dir, a directory of the upper layer, opaque in the
// writer's format. It is idempotent. If the filesystem refuses the xattr
// with ENOTSUP, SetOpaque falls back to dir/.wh..wh..opq.
//
// Preconditions: the caller serialises changes to dir.
func (w *Writer) SetOpaque(dir string) error {
	var name string
	switch w.opaque {
	case opaqueTrusted:
		name = xattrTrustedOpaque
	case opaqueUser:
		name = xattrUserOpaque
	}
	if name != "" {
		err := unix.Lsetxattr(dir, name, []byte(valueOpaque), 0)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("set opaque %s: %w", dir, err)
		}
	}
	marker := join(dir, OpaqueName)
	if err := createEmpty(marker); err != nil {
		return fmt.Errorf("set opaque %s: %w", marker, err)
	}
	return nil
}

// SetOrigin records ino, the union inode number a copied-up file keeps, on
// the upper-layer file at path (not followed if a symlink). See
// ErrOriginUnsupported for the files and filesystems where it cannot.
func (w *Writer) SetOrigin(path string, ino uint64) error {
	if w.origin == "" {
		return fmt.Errorf("set origin %s: %w", path, ErrOriginUnsupported)
	}
	err := unix.Lsetxattr(path, w.origin, formatOrigin(ino), 0)
	switch {
	case err == nil:
		return nil
	case isXattrRefused(err):
		return fmt.Errorf("set origin %s: %w: %w", path, ErrOriginUnsupported, err)
	}
	return fmt.Errorf("set origin %s: %w", path, err)
}

// isCharWhiteout reports whether st is a 0/0 character device.
func isCharWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

func isCharWhiteoutAt(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && isCharWhiteout(&st)
}

// createEmpty creates an empty regular file with mode 0 at path; an entry
// already there counts as success (any entry with a marker name is a
// marker).
func createEmpty(path string) error {
	fd, err := unix.Open(path,
		unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	switch {
	case errors.Is(err, unix.EEXIST):
		return nil
	case err != nil:
		return err
	}
	return unix.Close(fd)
}

// unlink removes a non-directory; a missing one is not an error.
func unlink(path string) error {
	if err := unix.Unlink(path); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// mkdirTemp makes the probe directory inside dir.
func mkdirTemp(dir string) (string, error) {
	return os.MkdirTemp(dir, ".whiteout-probe-")
}

// removeProbe removes the probe directory. A failure leaves a small
// directory in the scratch area, which its owner cleans.
func removeProbe(dir string) {
	_ = os.RemoveAll(dir)
}
