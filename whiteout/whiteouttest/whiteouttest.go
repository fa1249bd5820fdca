// Package whiteouttest builds layer fixtures in every whiteout and opaque
// format that package whiteout reads, for tests of whiteout and of the
// packages above it.
//
// The formats are spelled out here independently of package whiteout, on
// purpose: a test then checks whiteout against a second statement of the
// formats instead of against itself. Keep both in step with the package doc
// of whiteout.
package whiteouttest

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// WhiteoutForm is one on-disk form of a whiteout.
type WhiteoutForm string

const (
	CharDev  WhiteoutForm = "chardev"           // 0/0 character device NAME
	OCI      WhiteoutForm = "oci"               // empty file .wh.NAME
	XTrusted WhiteoutForm = "xwhiteout-trusted" // trusted.overlay.whiteout + dir marker
	XUser    WhiteoutForm = "xwhiteout-user"    // user.overlay.whiteout + dir marker
)

// WhiteoutForms lists every whiteout form.
var WhiteoutForms = []WhiteoutForm{CharDev, OCI, XTrusted, XUser}

// OpaqueForm is one on-disk form of an opaque directory.
type OpaqueForm string

const (
	OpaqueTrusted OpaqueForm = "trusted.overlay.opaque"
	OpaqueUser    OpaqueForm = "user.overlay.opaque"
	OpaqueFuse    OpaqueForm = "user.fuseoverlayfs.opaque"
	OpaqueFile    OpaqueForm = ".wh..wh..opq"
)

// OpaqueForms lists every opaque form.
var OpaqueForms = []OpaqueForm{OpaqueTrusted, OpaqueUser, OpaqueFuse, OpaqueFile}

// NeedsRoot reports whether making the form needs CAP_SYS_ADMIN
// (trusted.* xattrs).
func (f WhiteoutForm) NeedsRoot() bool { return f == XTrusted }

// NeedsRoot reports whether making the form needs CAP_SYS_ADMIN.
func (f OpaqueForm) NeedsRoot() bool { return f == OpaqueTrusted }

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root (trusted.* xattrs, other users)")
	}
}

// Whiteout makes a whiteout of name in dir in form f. The xwhiteout forms
// also mark dir with NS.overlay.opaque=x, unless dir already carries that
// xattr (which would then be "y" or "x").
func Whiteout(t testing.TB, dir, name string, f WhiteoutForm) {
	t.Helper()
	path := filepath.Join(dir, name)
	switch f {
	case CharDev:
		check(t, "mknod", path, unix.Mknod(path, unix.S_IFCHR, 0))
	case OCI:
		File(t, filepath.Join(dir, ".wh."+name), "")
	case XTrusted, XUser:
		ns := "trusted"
		if f == XUser {
			ns = "user"
		}
		File(t, path, "")
		Xattr(t, path, ns+".overlay.whiteout", "")
		if _, err := unix.Lgetxattr(dir, ns+".overlay.opaque", nil); err != nil {
			Xattr(t, dir, ns+".overlay.opaque", "x")
		}
	default:
		t.Fatalf("whiteouttest: unknown whiteout form %q", f)
	}
}

// Opaque marks dir opaque in form f.
func Opaque(t testing.TB, dir string, f OpaqueForm) {
	t.Helper()
	switch f {
	case OpaqueTrusted, OpaqueUser, OpaqueFuse:
		Xattr(t, dir, string(f), "y")
	case OpaqueFile:
		File(t, filepath.Join(dir, string(f)), "")
	default:
		t.Fatalf("whiteouttest: unknown opaque form %q", f)
	}
}

// File writes a regular file, making its parent directories.
func File(t testing.TB, path, content string) {
	t.Helper()
	Dir(t, filepath.Dir(path))
	check(t, "write", path, os.WriteFile(path, []byte(content), 0o644))
}

// Dir makes a directory and its parents.
func Dir(t testing.TB, path string) {
	t.Helper()
	check(t, "mkdir", path, os.MkdirAll(path, 0o755))
}

// Xattr sets an xattr on path without following symlinks.
func Xattr(t testing.TB, path, name, value string) {
	t.Helper()
	check(t, "setxattr "+name, path, unix.Lsetxattr(path, name, []byte(value), 0))
}

func check(t testing.TB, verb, path string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("whiteouttest: %s %s: %v", verb, path, err)
	}
}
