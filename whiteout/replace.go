package whiteout

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// OriginXattr returns the xattr that records ino as a copied-up file's
// origin, for a caller that sets it on a staged copy before publishing it,
// so that the origin appears atomically with the file. name is "" when the
// layer cannot hold xattrs.
func (w *Writer) OriginXattr(ino uint64) (name string, value []byte) {
	if w.origin == "" {
		return "", nil
	}
	return w.origin, formatOrigin(ino)
}

// Replace replaces the real entry dir/name (of any type) with a whiteout of
// name, and moves the old entry to moved, a path on the same filesystem
// that does not exist yet, for the caller to delete.
//
// With 0/0 devices the swap is atomic: the device is made at moved and
// exchanged with the entry (renameat2 RENAME_EXCHANGE). With .wh. files the
// marker is written first and the entry moved away second; a crash in
// between leaves the entry visible (a real entry wins over its marker in
// the same layer), never neither.
//
// Preconditions: the caller serialises changes to dir.
func (w *Writer) Replace(dir, name, moved string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("replace with whiteout %q: %w", name, err)
	}
	path := join(dir, name)
	if w.whiteouts == whiteoutCharDev {
		err := unix.Mknod(moved, unix.S_IFCHR, 0)
		if err == nil {
			err = unix.Renameat2(unix.AT_FDCWD, moved, unix.AT_FDCWD, path, unix.RENAME_EXCHANGE)
			if err == nil {
				return nil
			}
			unlink(moved)
			return fmt.Errorf("replace %s with whiteout: %w", path, err)
		}
		if !isCharDevRefused(err) {
			return fmt.Errorf("replace %s with whiteout: %w", path, err)
		}
	}
	if err := createEmpty(join(dir, WhiteoutName(name))); err != nil {
		return fmt.Errorf("replace %s with whiteout: %w", path, err)
	}
	if err := unix.Rename(path, moved); err != nil {
		return fmt.Errorf("replace %s with whiteout: %w", path, err)
	}
	return nil
}

// RenameWhiteout renames src to dst (replacing a non-directory or empty
// directory there, as rename(2) does) and leaves a whiteout of src's name
// at src. With 0/0 devices it is one atomic renameat2 RENAME_WHITEOUT. With
// .wh. files the marker is written first, so a crash leaves src visible.
//
// Preconditions: the caller serialises changes to both directories; src
// and dst are in the upper layer.
func (w *Writer) RenameWhiteout(src, dst string) error {
	dir, name := split(src)
	if err := checkName(name); err != nil {
		return fmt.Errorf("rename with whiteout %q: %w", name, err)
	}
	if w.whiteouts == whiteoutCharDev {
		err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_WHITEOUT)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EPERM):
			return fmt.Errorf("rename %s with whiteout: %w", src, err)
		}
		// The filesystem cannot do it in one step.
		if err := unix.Rename(src, dst); err != nil {
			return fmt.Errorf("rename %s: %w", src, err)
		}
		return w.Whiteout(dir, name)
	}
	if err := createEmpty(join(dir, WhiteoutName(name))); err != nil {
		return fmt.Errorf("rename %s with whiteout: %w", src, err)
	}
	if err := unix.Rename(src, dst); err != nil {
		unlink(join(dir, WhiteoutName(name)))
		return fmt.Errorf("rename %s: %w", src, err)
	}
	return nil
}

// split cuts a path into directory and last element.
func split(p string) (string, string) {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i], p[i+1:]
		}
	}
	return ".", p
}
