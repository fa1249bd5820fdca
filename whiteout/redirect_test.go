package whiteout_test

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

func TestParseRedirect(t *testing.T) {
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"name", "old", true},
		{"absolute", "/a/b", true},
		{"absolute one component", "/a", true},
		{"dots inside names", "/a.b/..c", true},
		{"longest", "/" + strings.Repeat("n", 255), true},
		{"empty", "", false},
		{"root", "/", false},
		{"double slash", "/a//b", false},
		{"trailing slash", "/a/", false},
		{"relative path", "a/b", false},
		{"dot", "/a/./b", false},
		{"dotdot", "/a/../b", false},
		{"dotdot name", "..", false},
		{"nul", "/a\x00b", false},
		{"marker name", "/a/.wh.b", false},
		{"component too long", "/" + strings.Repeat("n", 256), false},
		{"too long", strings.Repeat("/abcdefg", 513), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := whiteout.ParseRedirect([]byte(tc.in))
			if tc.ok != (err == nil) || (tc.ok && got != tc.in) {
				t.Errorf("ParseRedirect(%q) = %q, %v; want ok %v", tc.in, got, err, tc.ok)
			}
			if err != nil && !errors.Is(err, whiteout.ErrBadRedirect) {
				t.Errorf("ParseRedirect(%q) error %v does not match ErrBadRedirect", tc.in, err)
			}
		})
	}
}

// FuzzParseRedirect: what ParseRedirect accepts never leads out of the
// layers: no "." or ".." component, no empty one, no NUL.
func FuzzParseRedirect(f *testing.F) {
	for _, s := range []string{"a", "/a/b", "/", "//", "../x", "/a/../..", "a\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := whiteout.ParseRedirect(b)
		if err != nil {
			return
		}
		if r != string(b) || strings.IndexByte(r, 0) >= 0 {
			t.Fatalf("ParseRedirect(%q) = %q", b, r)
		}
		rel, abs := strings.CutPrefix(r, "/")
		if !abs && strings.Contains(r, "/") {
			t.Fatalf("relative redirect %q has a slash", r)
		}
		for _, c := range strings.Split(rel, "/") {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("redirect %q has component %q", r, c)
			}
		}
	})
}

func TestSetRedirect(t *testing.T) {
	wt.RequireRoot(t)
	w, err := whiteout.NewWriter(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := w.SetRedirect(dir, "/a/b"); err != nil {
		t.Fatal(err)
	}
	info, err := whiteout.Inspect(dir)
	if err != nil || info.Redirect != "/a/b" {
		t.Errorf("Inspect after SetRedirect = %+v, %v; want redirect /a/b", info, err)
	}
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(dir, "trusted.overlay.redirect", buf)
	if err != nil || string(buf[:n]) != "/a/b" {
		t.Errorf("trusted.overlay.redirect = %q, %v; want the kernel's form /a/b", buf[:n], err)
	}
	if err := w.SetRedirect(dir, "a/b"); !errors.Is(err, whiteout.ErrBadRedirect) {
		t.Errorf("SetRedirect of an invalid value = %v, want ErrBadRedirect", err)
	}
}
