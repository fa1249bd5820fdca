package whiteout

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestWriterForms forces every format a Writer can choose, including those
// the probe does not pick on this machine, and checks the bytes on disk.
func TestWriterForms(t *testing.T) {
	whiteoutTests := []struct {
		name string
		form whiteoutForm
		disk string // the entry Whiteout must create
	}{
		{"chardev", whiteoutCharDev, "a"},
		{"file", whiteoutFile, ".wh.a"},
	}
	for _, tc := range whiteoutTests {
		t.Run("whiteout "+tc.name, func(t *testing.T) {
			w := &Writer{whiteouts: tc.form}
			dir := t.TempDir()
			if err := w.Whiteout(dir, "a"); err != nil {
				t.Fatal(err)
			}
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(dir, tc.disk), &st); err != nil {
				t.Fatal(err)
			}
			if tc.form == whiteoutCharDev && (st.Mode != unix.S_IFCHR || st.Rdev != 0) {
				t.Errorf("device mode %o rdev %d, want %o 0", st.Mode, st.Rdev, unix.S_IFCHR)
			}
			if tc.form == whiteoutFile && (st.Mode != unix.S_IFREG || st.Size != 0) {
				t.Errorf("marker mode %o size %d, want %o 0", st.Mode, st.Size, unix.S_IFREG)
			}
			if s, err := Lookup(dir, "a", false, &st); err != nil || s != WhitedOut {
				t.Errorf("Lookup = %v, %v", s, err)
			}
			if err := w.Whiteout(dir, "a"); err != nil {
				t.Errorf("second Whiteout: %v", err)
			}
			if err := w.Remove(dir, "a"); err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("Remove left %v", ents)
			}
		})
	}

	opaqueTests := []struct {
		name  string
		form  opaqueForm
		xattr string // "" for the file form
		root  bool
	}{
		{"trusted", opaqueTrusted, xattrTrustedOpaque, true},
		{"user", opaqueUser, xattrUserOpaque, false},
		{"file", opaqueFile, "", false},
	}
	for _, tc := range opaqueTests {
		t.Run("opaque "+tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				t.Skip("skipping: trusted xattrs need root")
			}
			w := &Writer{opaque: tc.form}
			dir := t.TempDir()
			if err := w.SetOpaque(dir); err != nil {
				t.Fatal(err)
			}
			if tc.xattr != "" {
				if v, err := oneByteXattr(dir, tc.xattr); err != nil || v != 'y' {
					t.Errorf("%s = %q, %v", tc.xattr, v, err)
				}
			} else if _, err := os.Lstat(filepath.Join(dir, OpaqueName)); err != nil {
				t.Error(err)
			}
			if info, err := Inspect(dir); err != nil || !info.Opaque {
				t.Errorf("Inspect = %+v, %v", info, err)
			}
			if err := w.SetOpaque(dir); err != nil {
				t.Errorf("second SetOpaque: %v", err)
			}
		})
	}

	t.Run("no origin xattr", func(t *testing.T) {
		w := &Writer{opaque: opaqueFile}
		if err := w.SetOrigin(t.TempDir(), 1); !errors.Is(err, ErrOriginUnsupported) {
			t.Errorf("SetOrigin error = %v, want ErrOriginUnsupported", err)
		}
		if got := w.String(); got != "whiteouts=chardev opaque=.wh..wh..opq origin=none" {
			t.Errorf("String = %q", got)
		}
	})
}
