package tests

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const (
	whPrefix  = ".wh."
	whOpaque  = ".wh..wh..opq"
	kernelOpq = "trusted.overlay.opaque"
)

// buildOracleStack builds stack under root/NAME-i and converts each layer's
// OCI/AUFS whiteouts to the kernel's format, so kernel overlayfs sees what a
// union that reads every format should see in the unconverted layers.
func buildOracleStack(t *testing.T, root, name string, stack []layer) []string {
	t.Helper()
	dirs := buildStack(t, root, name, stack)
	for _, d := range dirs {
		if err := convertForKernel(d); err != nil {
			t.Fatalf("convert %s for the kernel: %v", d, err)
		}
	}
	return dirs
}

// convertForKernel rewrites the OCI/AUFS markers in layer dir:
//   - DIR/.wh..wh..opq becomes trusted.overlay.opaque=y on DIR;
//   - DIR/.wh.NAME becomes a 0/0 character device DIR/NAME.
//
// A .wh.NAME next to a real NAME is a malformed layer and an error. The times
// of every directory it touches are restored, so the converted layer differs
// from the original only in the markers.
func convertForKernel(dir string) error {
	var markers []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasPrefix(d.Name(), whPrefix) {
			markers = append(markers, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, m := range markers {
		parent, base := filepath.Dir(m), filepath.Base(m)
		var st unix.Stat_t
		if err := unix.Lstat(parent, &st); err != nil {
			return err
		}
		if err := convertMarker(parent, base); err != nil {
			return fmt.Errorf("convert %s: %w", m, err)
		}
		ts := []unix.Timespec{st.Atim, st.Mtim}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, parent, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
	}
	return nil
}

func convertMarker(parent, base string) error {
	if err := os.Remove(filepath.Join(parent, base)); err != nil {
		return err
	}
	if base == whOpaque {
		return unix.Setxattr(parent, kernelOpq, []byte("y"), 0)
	}
	name := strings.TrimPrefix(base, whPrefix)
	target := filepath.Join(parent, name)
	if _, err := os.Lstat(target); err == nil {
		return fmt.Errorf("malformed layer: both %s and %s", base, name)
	}
	return unix.Mknod(target, unix.S_IFCHR, 0)
}

// TestConvertForKernel pins the converter the oracle depends on.
func TestConvertForKernel(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	dirs := buildOracleStack(t, root, "k", []layer{{
		file("keep", "k"),
		whiteoutWH("gone"),
		opaqueWH("opq"),
		file("opq/inside", "i"),
		whiteoutWH("opq/gone2"),
	}})
	l := dirs[0]
	var st unix.Stat_t
	for _, p := range []string{"gone", "opq/gone2"} {
		if err := unix.Lstat(filepath.Join(l, p), &st); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
			t.Errorf("%s: mode %o rdev %d, want a 0/0 char device", p, st.Mode, st.Rdev)
		}
	}
	for _, p := range []string{".wh.gone", "opq/.wh..wh..opq", "opq/.wh.gone2"} {
		if _, err := os.Lstat(filepath.Join(l, p)); !os.IsNotExist(err) {
			t.Errorf("%s: still there after conversion (%v)", p, err)
		}
	}
	buf := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(l, "opq"), kernelOpq, buf)
	if err != nil || string(buf[:n]) != "y" {
		t.Errorf("opq: %s = %q, %v; want y", kernelOpq, buf[:n], err)
	}
	if err := unix.Lstat(filepath.Join(l, "opq"), &st); err != nil || st.Mtim.Sec != fixtureTime.Unix() {
		t.Errorf("opq: mtime %d (%v), want the fixture time restored", st.Mtim.Sec, err)
	}
}
