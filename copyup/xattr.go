package copyup

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// copyXattrs copies every xattr of src (not followed) that keep accepts to
// the temp entry dst. A security.* or trusted.* attribute that dst refuses
// with EPERM or EOPNOTSUPP is skipped: a rootless daemon cannot set them.
func copyXattrs(dst *staged, src string, keep func(string) bool) error {
	names, err := listXattrs(src)
	if err != nil {
		return err
	}
	for _, name := range names {
		if !keep(name) {
			continue
		}
		val, err := GetXattr(src, name)
		if isErrno(err, unix.ENODATA) {
			continue // removed since it was listed
		}
		if err != nil {
			return err
		}
		if err := dst.setxattr(name, val); err != nil {
			if privileged(name) && isErrno(err, unix.EPERM, unix.EOPNOTSUPP) {
				continue
			}
			return fmt.Errorf("set xattr %s on %s: %w", name, dst.path, err)
		}
	}
	return nil
}

func privileged(name string) bool {
	return strings.HasPrefix(name, "security.") || strings.HasPrefix(name, "trusted.")
}

// listXattrs returns the xattr names of path; a filesystem without xattr
// support has none.
func listXattrs(path string) ([]string, error) {
	buf, err := readSized(func(b []byte) (int, error) { return unix.Llistxattr(path, b) })
	if isErrno(err, unix.EOPNOTSUPP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
	}
	var names []string
	for name := range bytes.SplitSeq(buf, []byte{0}) {
		if len(name) > 0 {
			names = append(names, string(name))
		}
	}
	return names, nil
}

// GetXattr reads the xattr name of path (not following a final symlink),
// whatever its size; nil if it is empty.
func GetXattr(path, name string) ([]byte, error) {
	val, err := readSized(func(b []byte) (int, error) { return unix.Lgetxattr(path, name, b) })
	if err != nil {
		return nil, fmt.Errorf("get xattr %s of %s: %w", name, path, err)
	}
	return val, nil
}

// readSized calls read first with an empty buffer to learn the size, then
// with a buffer of that size, retrying while the value grows (ERANGE).
func readSized(read func([]byte) (int, error)) ([]byte, error) {
	for {
		n, err := read(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		buf := make([]byte, n)
		n, err = read(buf)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
