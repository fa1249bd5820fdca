package whiteout_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

// fixture builds one layer directory; it returns nothing and fails t on error.
type fixture func(t *testing.T, dir string)

func TestLookup(t *testing.T) {
	wt.RequireRoot(t)
	long := strings.Repeat("n", 255)
	tests := []struct {
		name   string
		lookup string // name to look up; "a" when empty
		build  fixture
		want   whiteout.State
		mode   uint32 // S_IFMT expected for Present
		err    error
	}{
		{name: "absent", build: func(t *testing.T, d string) {}, want: whiteout.Absent},
		{name: "regular file", build: func(t *testing.T, d string) { wt.File(t, filepath.Join(d, "a"), "x") },
			want: whiteout.Present, mode: unix.S_IFREG},
		{name: "empty file", build: func(t *testing.T, d string) { wt.File(t, filepath.Join(d, "a"), "") },
			want: whiteout.Present, mode: unix.S_IFREG},
		{name: "directory", build: func(t *testing.T, d string) { wt.Dir(t, filepath.Join(d, "a")) },
			want: whiteout.Present, mode: unix.S_IFDIR},
		{name: "symlink", build: func(t *testing.T, d string) { symlink(t, "nowhere", filepath.Join(d, "a")) },
			want: whiteout.Present, mode: unix.S_IFLNK},
		{name: "fifo", build: func(t *testing.T, d string) { mknod(t, filepath.Join(d, "a"), unix.S_IFIFO|0o644, 0) },
			want: whiteout.Present, mode: unix.S_IFIFO},
		{name: "chardev 1/3", build: func(t *testing.T, d string) {
			mknod(t, filepath.Join(d, "a"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3)))
		}, want: whiteout.Present, mode: unix.S_IFCHR},
		{name: "chardev 0/1", build: func(t *testing.T, d string) {
			mknod(t, filepath.Join(d, "a"), unix.S_IFCHR|0o644, int(unix.Mkdev(0, 1)))
		}, want: whiteout.Present, mode: unix.S_IFCHR},
		{name: "blockdev 0/0", build: func(t *testing.T, d string) {
			mknod(t, filepath.Join(d, "a"), unix.S_IFBLK|0o644, 0)
		}, want: whiteout.Present, mode: unix.S_IFBLK},
		{name: "chardev 0/0", build: form(wt.CharDev), want: whiteout.WhitedOut},
		{name: "chardev 0/0 with permissions", build: func(t *testing.T, d string) {
			mknod(t, filepath.Join(d, "a"), unix.S_IFCHR|0o700, 0)
		}, want: whiteout.WhitedOut},
		{name: "oci file", build: form(wt.OCI), want: whiteout.WhitedOut},
		{name: "oci directory", build: func(t *testing.T, d string) { wt.Dir(t, filepath.Join(d, ".wh.a")) },
			want: whiteout.WhitedOut},
		{name: "oci symlink", build: func(t *testing.T, d string) { symlink(t, "a", filepath.Join(d, ".wh.a")) },
			want: whiteout.WhitedOut},
		{name: "real entry beside oci", build: func(t *testing.T, d string) {
			wt.File(t, filepath.Join(d, "a"), "x")
			wt.Whiteout(t, d, "a", wt.OCI)
		}, want: whiteout.Present, mode: unix.S_IFREG},
		{name: "xwhiteout trusted", build: form(wt.XTrusted), want: whiteout.WhitedOut},
		{name: "xwhiteout user", build: form(wt.XUser), want: whiteout.WhitedOut},
		{name: "xwhiteout trusted under user x", build: func(t *testing.T, d string) {
			wt.Xattr(t, d, "user.overlay.opaque", "x")
			wt.Whiteout(t, d, "a", wt.XTrusted)
		}, want: whiteout.WhitedOut},
		{name: "xwhiteout in opaque dir", build: func(t *testing.T, d string) {
			wt.Opaque(t, d, wt.OpaqueTrusted)
			wt.Whiteout(t, d, "a", wt.XTrusted)
		}, want: whiteout.Present, mode: unix.S_IFREG},
		{name: "xwhiteout without dir marker", build: func(t *testing.T, d string) {
			wt.File(t, filepath.Join(d, "a"), "")
			wt.Xattr(t, filepath.Join(d, "a"), "trusted.overlay.whiteout", "")
		}, want: whiteout.Present, mode: unix.S_IFREG},
		{name: "xwhiteout not empty", build: func(t *testing.T, d string) {
			wt.File(t, filepath.Join(d, "a"), "data")
			wt.Xattr(t, filepath.Join(d, "a"), "user.overlay.whiteout", "")
			wt.Xattr(t, d, "user.overlay.opaque", "x")
		}, want: whiteout.Present, mode: unix.S_IFREG},
		{name: "xwhiteout xattr on directory", build: func(t *testing.T, d string) {
			wt.Dir(t, filepath.Join(d, "a"))
			wt.Xattr(t, filepath.Join(d, "a"), "user.overlay.whiteout", "")
			wt.Xattr(t, d, "user.overlay.opaque", "x")
		}, want: whiteout.Present, mode: unix.S_IFDIR},
		{name: "empty file in x dir", build: func(t *testing.T, d string) {
			wt.File(t, filepath.Join(d, "a"), "")
			wt.Xattr(t, d, "user.overlay.opaque", "x")
		}, want: whiteout.Present, mode: unix.S_IFREG},
		{name: "marker name", lookup: ".wh.a", build: form(wt.OCI), want: whiteout.Absent},
		{name: "opaque marker name", lookup: ".wh..wh..opq", build: opaque(wt.OpaqueFile), want: whiteout.Absent},
		{name: "longest name absent", lookup: long, build: func(t *testing.T, d string) {}, want: whiteout.Absent},
		{name: "longest name present", lookup: long, build: func(t *testing.T, d string) {
			wt.File(t, filepath.Join(d, long), "")
		}, want: whiteout.Present, mode: unix.S_IFREG},
		{name: "empty name", lookup: "/", build: func(t *testing.T, d string) {}, err: whiteout.ErrBadName},
		{name: "dotdot", lookup: "..", build: func(t *testing.T, d string) {}, err: whiteout.ErrBadName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.build(t, dir)
			name := tc.lookup
			if name == "" {
				name = "a"
			}
			info, err := whiteout.Inspect(dir)
			if err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			// Lookup walks dir's path; LookupAt resolves from its descriptor.
			for _, at := range []int{-1, fd} {
				var st unix.Stat_t
				got, err := whiteout.LookupAt(at, dir, name, info.XWhiteouts, &st)
				if at < 0 {
					got, err = whiteout.Lookup(dir, name, info.XWhiteouts, &st)
				}
				if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
					t.Fatalf("Lookup (dirfd %d) error = %v, want %v", at, err, tc.err)
				}
				if got != tc.want {
					t.Fatalf("Lookup (dirfd %d) = %v, want %v", at, got, tc.want)
				}
				if got == whiteout.Present && st.Mode&unix.S_IFMT != tc.mode {
					t.Errorf("Lookup (dirfd %d) mode = %o, want %o", at, st.Mode&unix.S_IFMT, tc.mode)
				}
			}
		})
	}
}

func TestLookupErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	wt.File(t, file, "")
	var st unix.Stat_t
	if _, err := whiteout.Lookup(file, "a", false, &st); !errors.Is(err, unix.ENOTDIR) {
		t.Errorf("Lookup in a file: error %v, want ENOTDIR", err)
	}
	if _, err := whiteout.Lookup(dir, strings.Repeat("n", 256), false, &st); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Errorf("Lookup of 256-byte name: error %v, want ENAMETOOLONG", err)
	}
}

func form(f wt.WhiteoutForm) fixture {
	return func(t *testing.T, d string) { wt.Whiteout(t, d, "a", f) }
}

func opaque(f wt.OpaqueForm) fixture {
	return func(t *testing.T, d string) { wt.Opaque(t, d, f) }
}

func symlink(t *testing.T, target, path string) {
	t.Helper()
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

func mknod(t *testing.T, path string, mode uint32, dev int) {
	t.Helper()
	if err := unix.Mknod(path, mode, dev); err != nil {
		t.Fatalf("mknod %s: %v", path, err)
	}
}
