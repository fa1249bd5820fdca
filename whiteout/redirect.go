package whiteout

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Redirect xattr names (see "Redirects" in the package doc).
const (
	xattrTrustedRedirect = "trusted.overlay.redirect"
	xattrUserRedirect    = "user.overlay.redirect"
)

// maxRedirect bounds a redirect's length, as PATH_MAX bounds the kernel's.
const maxRedirect = 4096

// ErrBadRedirect reports a redirect xattr whose value is not a valid name
// or absolute path. Errors carrying it also wrap EINVAL, which is what
// kernel overlayfs answers a lookup of such a directory with.
var ErrBadRedirect = errors.New("invalid redirect")

// ErrRedirectUnsupported is returned by SetRedirect when the upper layer
// cannot hold the redirect xattr (no xattrs on its filesystem). The caller
// does without the redirect: a rename answers EXDEV, as kernel overlayfs
// does then.
var ErrRedirectUnsupported = errors.New("redirect xattr unsupported")

// ParseRedirect checks the value of a redirect xattr and returns it as a
// string: either one name ("b": the directory's lower copies are the
// entries "b" of its parent's lower directories) or an absolute path from
// the root of the layers ("/a/b"), each component a valid name. Anything
// else (empty, a NUL, "//", a trailing '/', "." or "..", a marker name, a
// component over 255 bytes, over 4096 bytes in all) matches ErrBadRedirect.
func ParseRedirect(v []byte) (string, error) {
	s := string(v)
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s: %w", ErrBadRedirect, s, why, unix.EINVAL)
	}
	if len(s) == 0 || len(s) > maxRedirect {
		return bad("empty or too long")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return bad("holds a NUL")
	}
	rel, abs := strings.CutPrefix(s, "/")
	if !abs && strings.IndexByte(s, '/') >= 0 {
		return bad("a relative redirect is one name")
	}
	for c := range strings.SplitSeq(rel, "/") {
		if !validName(c) || IsMarkerName(c) || len(c) > 255 {
			return bad(fmt.Sprintf("component %q", c))
		}
	}
	return s, nil
}

// readRedirect reads the redirect xattr named name on path: "" when there
// is none; an invalid value matches ErrBadRedirect.
func readRedirect(path, name string) (string, error) {
	var buf [maxRedirect + 1]byte
	n, err := unix.Lgetxattr(path, name, buf[:])
	switch {
	case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
		return "", nil
	case errors.Is(err, unix.ERANGE):
		return "", fmt.Errorf("read %s of %s: %w: longer than %d bytes: %w", name, path, ErrBadRedirect, maxRedirect, unix.EINVAL)
	case err != nil:
		return "", fmt.Errorf("read %s of %s: %w", name, path, err)
	}
	r, err := ParseRedirect(buf[:n])
	if err != nil {
		return "", fmt.Errorf("read %s of %s: %w", name, path, err)
	}
	return r, nil
}

// SetRedirect records on dir, a directory of the upper layer, that its
// lower copies are found through redirect (a value ParseRedirect accepts),
// in the writer's xattr namespace.
func (w *Writer) SetRedirect(dir, redirect string) error {
	if _, err := ParseRedirect([]byte(redirect)); err != nil {
		return fmt.Errorf("set redirect on %s: %w", dir, err)
	}
	name := xattrUserRedirect
	switch {
	case w.privileged:
		name = xattrTrustedRedirect
	case w.opaque == opaqueFile:
		return fmt.Errorf("set redirect on %s: %w", dir, ErrRedirectUnsupported)
	}
	err := unix.Lsetxattr(dir, name, []byte(redirect), 0)
	switch {
	case err == nil:
		return nil
	case isXattrRefused(err):
		return fmt.Errorf("set redirect on %s: %w: %w", dir, ErrRedirectUnsupported, err)
	}
	return fmt.Errorf("set redirect on %s: %w", dir, err)
}
