package whiteout_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

func TestNewWriterPrivileged(t *testing.T) {
	wt.RequireRoot(t)
	probe := t.TempDir()
	w, err := whiteout.NewWriter(probe)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Privileged() || w.XattrNamespace() != "trusted" {
		t.Errorf("Privileged = %v, XattrNamespace = %q", w.Privileged(), w.XattrNamespace())
	}
	const want = "whiteouts=chardev opaque=trusted.overlay.opaque origin=trusted.overlay.lamina.origin"
	if w.String() != want {
		t.Errorf("String = %q, want %q", w.String(), want)
	}
	if ents, _ := os.ReadDir(probe); len(ents) != 0 {
		t.Errorf("probe left %v behind", ents)
	}
}

func TestNewWriterMissingDir(t *testing.T) {
	_, err := whiteout.NewWriter(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("NewWriter(missing) error = %v, want ErrNotExist", err)
	}
}

// writerRoundTrip exercises a writer against the readers. It runs as root
// and, through TestUnprivilegedWriter, as an ordinary user.
func writerRoundTrip(t *testing.T, w *whiteout.Writer, upper string) {
	state := func(name string) whiteout.State {
		t.Helper()
		info, err := whiteout.Inspect(upper)
		if err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		s, err := whiteout.Lookup(upper, name, info.XWhiteouts, &st)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	must(w.Whiteout(upper, "gone"))
	if s := state("gone"); s != whiteout.WhitedOut {
		t.Errorf("after Whiteout: %v", s)
	}
	must(w.Whiteout(upper, "gone")) // idempotent
	ents, wh, err := whiteout.ReadDir(upper, false)
	must(err)
	if _, ok := wh["gone"]; !ok || len(ents) != 0 {
		t.Errorf("ReadDir after Whiteout = %v, %v", ents, wh)
	}
	must(w.Remove(upper, "gone"))
	if s := state("gone"); s != whiteout.Absent {
		t.Errorf("after Remove: %v", s)
	}
	must(w.Remove(upper, "gone")) // nothing left to remove

	wt.File(t, filepath.Join(upper, "real"), "")
	if err := w.Whiteout(upper, "real"); !errors.Is(err, unix.EEXIST) {
		t.Errorf("Whiteout over a real file: error %v, want EEXIST", err)
	}
	must(w.Remove(upper, "real"))
	if s := state("real"); s != whiteout.Present {
		t.Errorf("Remove took a real file: %v", s)
	}
	for _, bad := range []string{"", ".", "..", "a/b", ".wh.x", ".wh..wh..opq"} {
		if err := w.Whiteout(upper, bad); !errors.Is(err, whiteout.ErrBadName) {
			t.Errorf("Whiteout(%q) error %v, want ErrBadName", bad, err)
		}
		if err := w.Remove(upper, bad); !errors.Is(err, whiteout.ErrBadName) {
			t.Errorf("Remove(%q) error %v, want ErrBadName", bad, err)
		}
	}

	sub := filepath.Join(upper, "sub")
	wt.Dir(t, sub)
	must(w.SetOpaque(sub))
	must(w.SetOpaque(sub)) // idempotent
	if info, err := whiteout.Inspect(sub); err != nil || !info.Opaque {
		t.Errorf("Inspect after SetOpaque = %+v, %v", info, err)
	}
	if ents, _, err := whiteout.ReadDir(sub, false); err != nil || len(ents) != 0 {
		t.Errorf("opaque marker visible: %v, %v", ents, err)
	}

	file := filepath.Join(upper, "real")
	if _, ok := whiteout.Origin(file); ok {
		t.Error("Origin of a fresh file reported")
	}
	must(w.SetOrigin(file, 1<<63+5))
	if ino, ok := whiteout.Origin(file); !ok || ino != 1<<63+5 {
		t.Errorf("Origin = %d, %v", ino, ok)
	}
	must(w.SetOrigin(sub, 7))
	if ino, ok := whiteout.Origin(sub); !ok || ino != 7 {
		t.Errorf("Origin(dir) = %d, %v", ino, ok)
	}
}

func TestWriterRoundTrip(t *testing.T) {
	wt.RequireRoot(t)
	w, err := whiteout.NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	writerRoundTrip(t, w, t.TempDir())

	// Privileged writers can record the origin of symlinks too.
	link := filepath.Join(t.TempDir(), "l")
	symlink(t, "nowhere", link)
	if err := w.SetOrigin(link, 3); err != nil {
		t.Fatal(err)
	}
	if ino, ok := whiteout.Origin(link); !ok || ino != 3 {
		t.Errorf("Origin(symlink) = %d, %v", ino, ok)
	}
}

func TestWriterRemoveEveryForm(t *testing.T) {
	wt.RequireRoot(t)
	w, err := whiteout.NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range wt.WhiteoutForms {
		t.Run(string(f), func(t *testing.T) {
			dir := t.TempDir()
			wt.Whiteout(t, dir, "a", f)
			if err := w.Remove(dir, "a"); err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left behind: %v", ents)
			}
		})
	}
	t.Run("xwhiteout without dir marker is a real file", func(t *testing.T) {
		dir := t.TempDir()
		wt.File(t, filepath.Join(dir, "a"), "")
		wt.Xattr(t, filepath.Join(dir, "a"), "user.overlay.whiteout", "")
		if err := w.Remove(dir, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "a")); err != nil {
			t.Errorf("Remove took a real file: %v", err)
		}
	})
}

func TestOriginMalformed(t *testing.T) {
	wt.RequireRoot(t)
	tests := []struct {
		name    string
		trusted string // "" for absent
		user    string
		want    uint64
		ok      bool
	}{
		{name: "absent"},
		{name: "trusted", trusted: "12", want: 12, ok: true},
		{name: "user", user: "13", want: 13, ok: true},
		{name: "trusted wins", trusted: "12", user: "13", want: 12, ok: true},
		{name: "malformed trusted falls back", trusted: "x", user: "13", want: 13, ok: true},
		{name: "malformed", user: "1 2"},
		{name: "too long", user: "123456789012345678901234567890"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			wt.File(t, path, "")
			if tc.trusted != "" {
				wt.Xattr(t, path, "trusted.overlay.lamina.origin", tc.trusted)
			}
			if tc.user != "" {
				wt.Xattr(t, path, "user.overlay.lamina.origin", tc.user)
			}
			got, ok := whiteout.Origin(path)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Origin = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
