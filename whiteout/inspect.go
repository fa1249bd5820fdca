package whiteout

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// DirInfo is what the union needs to know about a directory in one layer.
type DirInfo struct {
	// Opaque: entries of this directory in the layers below are hidden.
	Opaque bool
	// XWhiteouts: the directory may hold xwhiteouts; pass it to Lookup
	// and ReadDir.
	XWhiteouts bool
	// Redirect: where the directory's copies in the layers below are,
	// when not under its own name (a value ParseRedirect accepts); "" for
	// none. Not read for an opaque directory, which has none below.
	Redirect string
	// RedirectErr: the directory's redirect xattr holds a value
	// ParseRedirect refuses (it matches ErrBadRedirect), and Redirect is
	// "". Whether that matters is the reader's business: kernel overlayfs
	// refuses to look such a directory up, but never inspects a layer's
	// root.
	RedirectErr error
}

// Inspect reads the opaque and xwhiteout markers of the directory at path:
// its opaque xattrs (one listxattr, plus a getxattr per opaque xattr
// present) and, unless an xattr already made it opaque, whether it holds
// ".wh..wh..opq". Symlinks are not followed.
func Inspect(path string) (DirInfo, error) {
	return InspectAt(-1, path, "")
}

// InspectAt is Inspect of the directory name inside parent, with parentfd
// an open descriptor of parent (O_PATH will do) to resolve the opaque
// marker from; a negative parentfd means none. An empty name inspects
// parent itself.
func InspectAt(parentfd int, parent, name string) (DirInfo, error) {
	path, marker := parent, OpaqueName
	if name != "" {
		path, marker = join(parent, name), name+"/"+OpaqueName
	}
	x, err := readDirXattrs(path)
	if err != nil {
		return DirInfo{}, fmt.Errorf("inspect %s: %w", path, err)
	}
	info := x.info()
	if info.Opaque {
		return info, nil
	}
	if x.redirect != "" {
		info.Redirect, err = readRedirect(path, x.redirect)
		switch {
		case errors.Is(err, ErrBadRedirect):
			info.RedirectErr = fmt.Errorf("inspect %s: %w", path, err)
		case err != nil:
			return DirInfo{}, fmt.Errorf("inspect %s: %w", path, err)
		}
	}
	var st unix.Stat_t
	switch err := lstatAt(parentfd, parent, marker, &st); {
	case err == nil:
		info.Opaque = true
	case !errors.Is(err, unix.ENOENT):
		return DirInfo{}, fmt.Errorf("inspect %s: %w", join(path, OpaqueName), err)
	}
	return info, nil
}

// info interprets the xattr values.
func (x dirXattrs) info() DirInfo {
	return DirInfo{
		Opaque: x.trusted == valueOpaque[0] || x.user == valueOpaque[0] ||
			x.fuse == valueOpaque[0],
		XWhiteouts: x.trusted == valueXWhiteout[0] ||
			x.user == valueXWhiteout[0],
	}
}
