package whiteout

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// MakeKernelWhiteout makes path the kernel's native whiteout, a 0/0
// character device, whatever its name (marker names included: a converter
// hides a layer's ".wh.NAME" files this way). An existing 0/0 device counts
// as success. Unlike Writer.Whiteout it never falls back to ".wh." files:
// it serves kernel overlayfs, which reads no other whiteout.
func MakeKernelWhiteout(path string) error {
	err := unix.Mknod(path, unix.S_IFCHR, 0)
	if errors.Is(err, unix.EEXIST) && isCharWhiteoutAt(path) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("make kernel whiteout %s: %w", path, err)
	}
	return nil
}

// SetKernelOpaque marks dir opaque for a kernel overlayfs mount that reads
// xattr namespace ns: "trusted", or "user" for a userxattr mount.
func SetKernelOpaque(dir, ns string) error {
	var name string
	switch ns {
	case "trusted":
		name = xattrTrustedOpaque
	case "user":
		name = xattrUserOpaque
	default:
		return fmt.Errorf("set kernel opaque %s: unknown xattr namespace %q", dir, ns)
	}
	if err := unix.Lsetxattr(dir, name, []byte(valueOpaque), 0); err != nil {
		return fmt.Errorf("set kernel opaque %s: %w", dir, err)
	}
	return nil
}

// RemoveMarker removes dir/.wh.NAME, the name-form whiteout of name, if
// there is one. A caller that has just created a real entry dir/name uses
// it instead of Writer.Remove: the entry itself cannot be a whiteout, and
// one unlink is all that is left to do. Names too long for a marker have
// none.
func RemoveMarker(dir, name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("remove whiteout marker %q: %w", name, err)
	}
	marker := join(dir, WhiteoutName(name))
	if err := unix.Unlink(marker); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENAMETOOLONG) {
		return fmt.Errorf("remove whiteout marker %s: %w", marker, err)
	}
	return nil
}
