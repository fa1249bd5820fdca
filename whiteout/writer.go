package whiteout

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrOriginUnsupported is returned (wrapped, with the errno) by SetOrigin
// when the upper filesystem cannot hold the origin xattr on that file:
// xattrs are unsupported, or the writer is unprivileged and the file is a
// symlink or special file, where Linux refuses user.* xattrs. Callers treat
// the origin as unknown and carry on.
var ErrOriginUnsupported = errors.New("origin xattr unsupported")

// whiteoutForm is how a Writer writes whiteouts.
type whiteoutForm int

const (
	whiteoutCharDev whiteoutForm = iota // 0/0 character device NAME
	whiteoutFile                        // empty file .wh.NAME
)

// opaqueForm is how a Writer marks opaque directories.
type opaqueForm int

const (
	opaqueTrusted opaqueForm = iota // trusted.overlay.opaque=y
	opaqueUser                      // user.overlay.opaque=y
	opaqueFile                      // empty file .wh..wh..opq
)

// Writer writes whiteouts, opaque markers and origins into one upper layer
// in the formats NewWriter found to work. It is immutable and safe for
// concurrent use; see the package doc for the formats.
type Writer struct {
	whiteouts  whiteoutForm
	opaque     opaqueForm
	privileged bool   // trusted.* xattrs can be set
	origin     string // origin xattr name; "" when xattrs are unsupported
}

// NewWriter probes which formats the upper layer's filesystem accepts.
// probeDir is a directory on the same filesystem as the upper layer, such
// as the union's workdir; NewWriter makes a temporary directory inside it
// and removes it again.
func NewWriter(probeDir string) (*Writer, error) {
	dir, err := mkdirTemp(probeDir)
	if err != nil {
		return nil, fmt.Errorf("probe whiteout formats in %s: %w", probeDir, err)
	}
	defer removeProbe(dir)

	w := &Writer{}
	switch err := unix.Mknod(join(dir, "c"), unix.S_IFCHR, 0); {
	case err == nil:
		w.whiteouts = whiteoutCharDev
	case isCharDevRefused(err):
		w.whiteouts = whiteoutFile
	default:
		return nil, fmt.Errorf("probe whiteout format in %s: %w", dir, err)
	}

	switch err := unix.Lsetxattr(dir, xattrTrustedProbe, []byte("1"), 0); {
	case err == nil:
		w.privileged = true
		w.opaque, w.origin = opaqueTrusted, xattrTrustedOrigin
		return w, nil
	case !isXattrRefused(err):
		return nil, fmt.Errorf("probe trusted xattrs in %s: %w", dir, err)
	}
	switch err := unix.Lsetxattr(dir, xattrUserProbe, []byte("1"), 0); {
	case err == nil:
		w.opaque, w.origin = opaqueUser, xattrUserOrigin
	case isXattrRefused(err):
		w.opaque, w.origin = opaqueFile, ""
	default:
		return nil, fmt.Errorf("probe user xattrs in %s: %w", dir, err)
	}
	return w, nil
}

// isCharDevRefused reports errors by which mknod says 0/0 devices cannot be
// made here (as opposed to a broken directory).
func isCharDevRefused(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) ||
		errors.Is(err, unix.EINVAL)
}

// isXattrRefused reports errors by which setxattr says the namespace is not
// available to us on this filesystem or file.
func isXattrRefused(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP)
}

// Privileged reports whether the writer can set trusted.* xattrs.
func (w *Writer) Privileged() bool { return w.privileged }

// XattrNamespace is the overlay xattr namespace of the layer this writer
// writes: "trusted", or "user" (mount kernel overlayfs with userxattr).
func (w *Writer) XattrNamespace() string {
	if w.privileged {
		return "trusted"
	}
	return "user"
}

// String describes the chosen formats, such as
// "whiteouts=chardev opaque=trusted.overlay.opaque origin=trusted.overlay.lamina.origin".
func (w *Writer) String() string {
	wh := "chardev"
	if w.whiteouts == whiteoutFile {
		wh = ".wh.NAME"
	}
	op := map[opaqueForm]string{
		opaqueTrusted: xattrTrustedOpaque,
		opaqueUser:    xattrUserOpaque,
		opaqueFile:    OpaqueName,
	}[w.opaque]
	origin := w.origin
	if origin == "" {
		origin = "none"
	}
	return fmt.Sprintf("whiteouts=%s opaque=%s origin=%s", wh, op, origin)
}
