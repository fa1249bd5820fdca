package whiteout

import (
	"bytes"
	"errors"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Extended attribute names (see the package doc).
const (
	xattrTrustedOpaque   = "trusted.overlay.opaque"
	xattrUserOpaque      = "user.overlay.opaque"
	xattrFuseOpaque      = "user.fuseoverlayfs.opaque"
	xattrTrustedWhiteout = "trusted.overlay.whiteout"
	xattrUserWhiteout    = "user.overlay.whiteout"
	xattrTrustedOrigin   = "trusted.overlay.lamina.origin"
	xattrUserOrigin      = "user.overlay.lamina.origin"
	xattrTrustedProbe    = "trusted.lamina.probe"
	xattrUserProbe       = "user.lamina.probe"

	valueOpaque    = "y" // opaque directory
	valueXWhiteout = "x" // directory may hold xwhiteouts
)

// privatePrefixes are the xattr name prefixes IsPrivateXattr hides.
var privatePrefixes = [...]string{
	"trusted.overlay.",
	"user.overlay.",
	"user.fuseoverlayfs.",
	"trusted.lamina.",
	"user.lamina.",
}

// IsPrivateXattr reports whether the xattr name belongs to a union
// implementation (kernel overlayfs, fuse-overlayfs or lamina). The union
// hides such names from listxattr and refuses to get or set them.
func IsPrivateXattr(name string) bool {
	for _, p := range privatePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// hasXattr reports whether path (not followed if a symlink) carries the
// xattr name. Filesystems without xattrs simply have none.
func hasXattr(path, name string) (bool, error) {
	_, err := unix.Lgetxattr(path, name, nil)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
		return false, nil
	}
	return false, err
}

// hasXWhiteoutXattr reports whether path carries either xwhiteout xattr.
func hasXWhiteoutXattr(path string) (bool, error) {
	ok, err := hasXattr(path, xattrTrustedWhiteout)
	if ok || err != nil {
		return ok, err
	}
	return hasXattr(path, xattrUserWhiteout)
}

// dirXattrs holds the one-byte values of the opaque xattrs this package
// reads (0 means absent or not one byte long), and the name of the
// redirect xattr present, if any (the trusted one when both are).
type dirXattrs struct {
	trusted, user, fuse byte
	redirect            string
}

// readDirXattrs reads the opaque xattrs of path with one listxattr and a
// getxattr per opaque xattr actually present, and notes which redirect
// xattr it has.
func readDirXattrs(path string) (dirXattrs, error) {
	var x dirXattrs
	var stack [512]byte
	buf := stack[:]
	n, err := unix.Llistxattr(path, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Llistxattr(path, nil); err == nil {
			buf = make([]byte, n+64) // slack for a concurrent setxattr
			n, err = unix.Llistxattr(path, buf)
		}
	}
	switch {
	case errors.Is(err, unix.ENOTSUP):
		return x, nil
	case err != nil:
		return x, err
	}
	for names := buf[:n]; len(names) > 0; {
		var name []byte
		if i := bytes.IndexByte(names, 0); i >= 0 {
			name, names = names[:i], names[i+1:]
		} else {
			name, names = names, nil
		}
		var dst *byte
		switch string(name) {
		case xattrTrustedOpaque:
			dst = &x.trusted
		case xattrUserOpaque:
			dst = &x.user
		case xattrFuseOpaque:
			dst = &x.fuse
		case xattrTrustedRedirect, xattrUserRedirect:
			if x.redirect != xattrTrustedRedirect {
				x.redirect = string(name)
			}
			continue
		default:
			continue
		}
		if *dst, err = oneByteXattr(path, string(name)); err != nil {
			return x, err
		}
	}
	return x, nil
}

// oneByteXattr returns the value of a one-byte xattr, or 0 when it is
// absent or of any other length.
func oneByteXattr(path, name string) (byte, error) {
	var v [1]byte
	n, err := unix.Lgetxattr(path, name, v[:])
	switch {
	case err == nil && n == 1:
		return v[0], nil
	case err == nil, errors.Is(err, unix.ERANGE),
		errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
		return 0, nil
	}
	return 0, err
}

// Origin returns the union inode number recorded on path by SetOrigin,
// reading trusted.overlay.lamina.origin first, then
// user.overlay.lamina.origin. It reports
// false when neither is present and well formed.
func Origin(path string) (uint64, bool) {
	for _, name := range [...]string{xattrTrustedOrigin, xattrUserOrigin} {
		var buf [24]byte
		n, err := unix.Lgetxattr(path, name, buf[:])
		if err != nil {
			continue
		}
		if ino, ok := parseOrigin(buf[:n]); ok {
			return ino, true
		}
	}
	return 0, false
}

// parseOrigin parses an origin xattr value: a uint64 in canonical decimal.
func parseOrigin(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	ino, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return 0, false
	}
	return ino, true
}

// formatOrigin is the inverse of parseOrigin.
func formatOrigin(ino uint64) []byte {
	return strconv.AppendUint(nil, ino, 10)
}
