package whiteout_test

import (
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

func TestInspect(t *testing.T) {
	wt.RequireRoot(t)
	xattr := func(name, value string) fixture {
		return func(t *testing.T, d string) { wt.Xattr(t, d, name, value) }
	}
	tests := []struct {
		name  string
		build fixture
		want  whiteout.DirInfo
	}{
		{name: "plain", build: func(t *testing.T, d string) {}},
		{name: "opaque trusted", build: opaque(wt.OpaqueTrusted), want: whiteout.DirInfo{Opaque: true}},
		{name: "opaque user", build: opaque(wt.OpaqueUser), want: whiteout.DirInfo{Opaque: true}},
		{name: "opaque fuse-overlayfs", build: opaque(wt.OpaqueFuse), want: whiteout.DirInfo{Opaque: true}},
		{name: "opaque file", build: opaque(wt.OpaqueFile), want: whiteout.DirInfo{Opaque: true}},
		{name: "opaque directory marker", build: func(t *testing.T, d string) {
			wt.Dir(t, filepath.Join(d, ".wh..wh..opq"))
		}, want: whiteout.DirInfo{Opaque: true}},
		{name: "x trusted", build: xattr("trusted.overlay.opaque", "x"), want: whiteout.DirInfo{XWhiteouts: true}},
		{name: "x user", build: xattr("user.overlay.opaque", "x"), want: whiteout.DirInfo{XWhiteouts: true}},
		{name: "x fuse-overlayfs is nothing", build: xattr("user.fuseoverlayfs.opaque", "x")},
		{name: "x and opaque file", build: func(t *testing.T, d string) {
			wt.Xattr(t, d, "trusted.overlay.opaque", "x")
			wt.Opaque(t, d, wt.OpaqueFile)
		}, want: whiteout.DirInfo{Opaque: true, XWhiteouts: true}},
		{name: "x trusted and y user", build: func(t *testing.T, d string) {
			wt.Xattr(t, d, "trusted.overlay.opaque", "x")
			wt.Xattr(t, d, "user.overlay.opaque", "y")
		}, want: whiteout.DirInfo{Opaque: true, XWhiteouts: true}},
		{name: "value n", build: xattr("trusted.overlay.opaque", "n")},
		{name: "value yes", build: xattr("trusted.overlay.opaque", "yes")},
		{name: "value y newline", build: xattr("user.overlay.opaque", "y\n")},
		{name: "value empty", build: xattr("user.overlay.opaque", "")},
		{name: "unrelated xattrs", build: func(t *testing.T, d string) {
			wt.Xattr(t, d, "user.a", "y")
			wt.Xattr(t, d, "trusted.overlay.origin", "y")
		}},
		{name: "marker in subdirectory", build: func(t *testing.T, d string) {
			wt.Opaque(t, filepath.Join(d, "sub"), wt.OpaqueFile)
		}},
		{name: "redirect trusted", build: xattr("trusted.overlay.redirect", "/a/b"), want: whiteout.DirInfo{Redirect: "/a/b"}},
		{name: "redirect user", build: xattr("user.overlay.redirect", "old"), want: whiteout.DirInfo{Redirect: "old"}},
		{name: "redirect trusted over user", build: func(t *testing.T, d string) {
			wt.Xattr(t, d, "user.overlay.redirect", "u")
			wt.Xattr(t, d, "trusted.overlay.redirect", "t")
		}, want: whiteout.DirInfo{Redirect: "t"}},
		{name: "redirect of an opaque directory is not read", build: func(t *testing.T, d string) {
			wt.Xattr(t, d, "trusted.overlay.redirect", "//bad")
			wt.Xattr(t, d, "trusted.overlay.opaque", "y")
		}, want: whiteout.DirInfo{Opaque: true}},
		{name: "many xattrs", build: func(t *testing.T, d string) {
			for i := range 60 {
				wt.Xattr(t, d, "user.padding-xattr-name-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "v")
			}
			wt.Xattr(t, d, "user.overlay.opaque", "y")
		}, want: whiteout.DirInfo{Opaque: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "d")
			wt.Dir(t, dir)
			tc.build(t, dir)
			pfd, err := unix.Open(parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(pfd)
			dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(dfd)
			for _, c := range []struct {
				how string
				run func() (whiteout.DirInfo, error)
			}{
				{"path", func() (whiteout.DirInfo, error) { return whiteout.Inspect(dir) }},
				{"from parent descriptor", func() (whiteout.DirInfo, error) { return whiteout.InspectAt(pfd, parent, "d") }},
				{"from parent path", func() (whiteout.DirInfo, error) { return whiteout.InspectAt(-1, parent, "d") }},
				{"own descriptor", func() (whiteout.DirInfo, error) { return whiteout.InspectAt(dfd, dir, "") }},
			} {
				got, err := c.run()
				if err != nil {
					t.Fatalf("Inspect (%s): %v", c.how, err)
				}
				if got != tc.want {
					t.Errorf("Inspect (%s) = %+v, want %+v", c.how, got, tc.want)
				}
			}
		})
	}
}

func TestInspectMissing(t *testing.T) {
	_, err := whiteout.Inspect(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, unix.ENOENT) {
		t.Errorf("Inspect(missing) error = %v, want ENOENT", err)
	}
	parent := t.TempDir()
	fd, err := unix.Open(parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if _, err := whiteout.InspectAt(fd, parent, "missing"); !errors.Is(err, unix.ENOENT) {
		t.Errorf("InspectAt(missing) error = %v, want ENOENT", err)
	}
}

func TestInspectBadRedirect(t *testing.T) {
	wt.RequireRoot(t)
	dir := t.TempDir()
	wt.Xattr(t, dir, "trusted.overlay.redirect", "a/b")
	wt.Xattr(t, dir, "trusted.overlay.opaque", "x")
	info, err := whiteout.Inspect(dir)
	if err != nil {
		t.Fatalf("Inspect of a directory with an invalid redirect: %v, want the rest of its markers", err)
	}
	if !info.XWhiteouts || info.Redirect != "" {
		t.Errorf("Inspect = %+v, want XWhiteouts and no redirect", info)
	}
	if !errors.Is(info.RedirectErr, whiteout.ErrBadRedirect) || !errors.Is(info.RedirectErr, unix.EINVAL) {
		t.Errorf("RedirectErr of a relative redirect with a slash = %v, want ErrBadRedirect and EINVAL", info.RedirectErr)
	}
}
