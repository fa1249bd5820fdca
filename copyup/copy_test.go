package copyup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCopyTypes(t *testing.T) {
	requireRoot(t)
	const mib = 1 << 20
	tests := []struct {
		name  string
		build func(t *testing.T, src string)
		check func(t *testing.T, src, dst string)
	}{
		{
			name:  "regular file with content",
			build: func(t *testing.T, src string) { writeAt(t, src, 0, pattern(3*mib+17, 1)) },
			check: func(t *testing.T, src, dst string) { assertSameContent(t, src, dst) },
		},
		{
			name:  "empty file",
			build: func(t *testing.T, src string) { writeAt(t, src, 0, nil) },
			check: func(t *testing.T, src, dst string) {
				if st := lstat(t, dst); st.Size != 0 {
					t.Errorf("size = %d, want 0", st.Size)
				}
			},
		},
		{
			name: "sparse file with holes in the middle and at the end",
			build: func(t *testing.T, src string) {
				writeAt(t, src, 0, pattern(64<<10, 2))
				writeAt(t, src, 8*mib, pattern(64<<10, 3))
				mustNoErr(t, os.Truncate(src, 24*mib))
			},
			check: func(t *testing.T, src, dst string) {
				assertSameContent(t, src, dst)
				st := lstat(t, dst)
				if st.Size != 24*mib {
					t.Errorf("size = %d, want %d", st.Size, 24*mib)
				}
				if used := st.Blocks * 512; used > 1*mib {
					t.Errorf("copy uses %d bytes on disk, want holes kept (<= 1 MiB)", used)
				}
			},
		},
		{
			name:  "symlink",
			build: func(t *testing.T, src string) { mustNoErr(t, os.Symlink("../some/where", src)) },
			check: func(t *testing.T, src, dst string) {
				if got, err := os.Readlink(dst); err != nil || got != "../some/where" {
					t.Errorf("readlink = %q, %v", got, err)
				}
			},
		},
		{
			name:  "fifo",
			build: func(t *testing.T, src string) { mustNoErr(t, unix.Mkfifo(src, 0o640)) },
		},
		{
			name:  "socket",
			build: func(t *testing.T, src string) { mustNoErr(t, unix.Mknod(src, unix.S_IFSOCK|0o600, 0)) },
		},
		{
			name: "char device",
			build: func(t *testing.T, src string) {
				mustNoErr(t, unix.Mknod(src, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
			},
		},
		{
			name: "block device",
			build: func(t *testing.T, src string) {
				mustNoErr(t, unix.Mknod(src, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 200))))
			},
		},
		{
			name: "directory is copied empty",
			build: func(t *testing.T, src string) {
				mustNoErr(t, os.Mkdir(src, 0o751))
				writeAt(t, filepath.Join(src, "child"), 0, []byte("x"))
			},
			check: func(t *testing.T, src, dst string) {
				if ents, err := os.ReadDir(dst); err != nil || len(ents) != 0 {
					t.Errorf("copied directory has %v, %v; want empty", ents, err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newLayout(t)
			src, dst := filepath.Join(l.lower, "src"), filepath.Join(l.upper, "dst")
			tt.build(t, src)
			if err := l.copier(t).Copy(ctx, src, dst, nil, nil); err != nil {
				t.Fatal(err)
			}
			s, d := lstat(t, src), lstat(t, dst)
			if s.Mode != d.Mode || s.Rdev != d.Rdev {
				t.Errorf("mode/rdev = %#o/%#x, want %#o/%#x", d.Mode, d.Rdev, s.Mode, s.Rdev)
			}
			if tt.check != nil {
				tt.check(t, src, dst)
			}
			l.assertWorkEmpty(t)
		})
	}
}

// setMeta gives p the ownership, mode, xattrs and times the metadata test
// expects to find on the copy, in the order Copy itself uses.
func setMeta(t *testing.T, p string, mode uint32, xa map[string]string) {
	t.Helper()
	mustNoErr(t, unix.Lchown(p, 1234, 5678))
	if mode != 0 {
		mustNoErr(t, unix.Chmod(p, mode))
	}
	for k, v := range xa {
		mustNoErr(t, unix.Lsetxattr(p, k, []byte(v), 0))
	}
	ts := []unix.Timespec{{Sec: 1_600_000_000, Nsec: 123_456_789}, {Sec: 1_500_000_000, Nsec: 987_654_321}}
	mustNoErr(t, unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW))
}

func TestCopyMetadata(t *testing.T) {
	requireRoot(t)
	userAndTrusted := map[string]string{"user.color": "blue", "trusted.lamina.test": "t", "security.lamina.test": "s"}
	trustedOnly := map[string]string{"trusted.lamina.test": "t", "security.lamina.test": "s"}
	tests := []struct {
		name  string
		build func(t *testing.T, src string)
		mode  uint32
		xa    map[string]string
	}{
		{"setuid file", func(t *testing.T, p string) { writeAt(t, p, 0, []byte("hi")) }, 0o6755, userAndTrusted},
		{"sticky directory", func(t *testing.T, p string) { mustNoErr(t, os.Mkdir(p, 0o700)) }, 0o1777, userAndTrusted},
		{"read-only directory", func(t *testing.T, p string) { mustNoErr(t, os.Mkdir(p, 0o700)) }, 0o555, userAndTrusted},
		// user.* is only allowed on files and directories; a symlink's
		// mode is fixed.
		{"fifo", func(t *testing.T, p string) { mustNoErr(t, unix.Mkfifo(p, 0o600)) }, 0o620, trustedOnly},
		{"symlink", func(t *testing.T, p string) { mustNoErr(t, os.Symlink("target", p)) }, 0, trustedOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newLayout(t)
			src, dst := filepath.Join(l.lower, "src"), filepath.Join(l.upper, "dst")
			tt.build(t, src)
			setMeta(t, src, tt.mode, tt.xa)
			st := lstat(t, src)
			if err := l.copier(t).Copy(ctx, src, dst, &st, nil); err != nil {
				t.Fatal(err)
			}
			d := lstat(t, dst)
			if d.Uid != 1234 || d.Gid != 5678 {
				t.Errorf("owner = %d:%d, want 1234:5678", d.Uid, d.Gid)
			}
			if d.Mode != st.Mode {
				t.Errorf("mode = %#o, want %#o", d.Mode, st.Mode)
			}
			if d.Atim != st.Atim || d.Mtim != st.Mtim {
				t.Errorf("atime, mtime = %v, %v; want %v, %v", d.Atim, d.Mtim, st.Atim, st.Mtim)
			}
			got := xattrs(t, dst)
			for k, v := range tt.xa {
				if got[k] != v {
					t.Errorf("xattr %s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestCopyXattrFilterAndExtras(t *testing.T) {
	requireRoot(t)
	ctx := testCtx(t, 30*time.Second)
	l := newLayout(t)
	src, dst := filepath.Join(l.lower, "f"), filepath.Join(l.upper, "f")
	writeAt(t, src, 0, []byte("data"))
	for k, v := range map[string]string{
		"user.keep":               "1",
		"trusted.overlay.origin":  "private",
		"trusted.overlay.opaque":  "y",
		"user.overwritten.by.opt": "source",
	} {
		mustNoErr(t, unix.Lsetxattr(src, k, []byte(v), 0))
	}
	c := l.copier(t,
		WithXattrFilter(func(name string) bool { return name != "trusted.overlay.origin" && name != "trusted.overlay.opaque" }),
		WithExtraXattrs(map[string][]byte{"user.overwritten.by.opt": []byte("opt"), "user.both": []byte("opt")}),
	)
	extra := map[string][]byte{"trusted.overlay.origin": []byte("lower-id"), "user.both": []byte("call")}
	if err := c.Copy(ctx, src, dst, nil, extra); err != nil {
		t.Fatal(err)
	}
	got := xattrs(t, dst)
	want := map[string]string{
		"user.keep":               "1",
		"trusted.overlay.origin":  "lower-id",
		"user.overwritten.by.opt": "opt",
		"user.both":               "call",
	}
	if len(got) != len(want) {
		t.Errorf("xattrs = %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("xattr %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestCopyExists(t *testing.T) {
	tests := []struct {
		name   string
		source func(t *testing.T, p string)
		exists func(t *testing.T, p string)
	}{
		{"file over file", func(t *testing.T, p string) { writeAt(t, p, 0, []byte("new")) }, func(t *testing.T, p string) { writeAt(t, p, 0, []byte("old")) }},
		{"dir over dir", func(t *testing.T, p string) { mustNoErr(t, os.Mkdir(p, 0o755)) }, func(t *testing.T, p string) { mustNoErr(t, os.Mkdir(p, 0o755)) }},
		{"file over dangling symlink", func(t *testing.T, p string) { writeAt(t, p, 0, []byte("new")) }, func(t *testing.T, p string) { mustNoErr(t, os.Symlink("nowhere", p)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newLayout(t)
			src, dst := filepath.Join(l.lower, "x"), filepath.Join(l.upper, "x")
			tt.source(t, src)
			tt.exists(t, dst)
			before := lstat(t, dst)
			err := l.copier(t).Copy(ctx, src, dst, nil, nil)
			if !isExist(err) {
				t.Fatalf("Copy = %v, want ErrExists and fs.ErrExist", err)
			}
			if after := lstat(t, dst); after.Ino != before.Ino {
				t.Error("destination was replaced")
			}
			l.assertWorkEmpty(t)
		})
	}
}

// TestPublishNoReplace covers the race the early check in Copy cannot: dst
// appearing while the copy is staged, named or unnamed.
func TestPublishNoReplace(t *testing.T) {
	for _, tt := range []struct {
		name string
		anon bool
	}{{"named", false}, {"unnamed", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newLayout(t)
			c := l.copier(t)
			src, dst := filepath.Join(l.lower, "x"), filepath.Join(l.upper, "x")
			writeAt(t, src, 0, []byte("new"))
			st := lstat(t, src)
			s, err := c.stage(ctx, src, &st, tt.anon)
			mustNoErr(t, err)
			if s.anon != tt.anon {
				t.Fatalf("staged unnamed = %v, want %v", s.anon, tt.anon)
			}
			if !s.anon {
				mustNoErr(t, s.close())
			}
			writeAt(t, dst, 0, []byte("old"))
			if err := publish(s, dst, 0o644); !isExist(err) {
				t.Fatalf("publish = %v, want ErrExists", err)
			}
			if b, _ := os.ReadFile(dst); string(b) != "old" {
				t.Errorf("destination = %q, want it untouched", b)
			}
			s.discard()
			l.assertWorkEmpty(t)
		})
	}
}

// TestCopyStaging copies a regular file through each way of staging it: an
// unnamed O_TMPFILE (the default), a name in the work directory (when
// O_TMPFILE is refused), and an unnamed file whose linking fails, which is
// copied again under a name. Each gives the same copy, one link, and an
// empty work directory.
func TestCopyStaging(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name       string
		noTmpfile  bool
		refuseLink bool
	}{
		{name: "unnamed"},
		{name: "named", noTmpfile: true},
		{name: "unnamed, link refused", refuseLink: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newLayout(t)
			src, dst := filepath.Join(l.lower, "f"), filepath.Join(l.upper, "f")
			writeAt(t, src, 0, pattern(70000, 5))
			setMeta(t, src, 0o4751, map[string]string{"user.a": "1", "trusted.b": "2"})
			c := l.copier(t)
			c.noTmpfile.Store(tt.noTmpfile)
			links := 0
			if tt.refuseLink {
				restore := linkat
				linkat = func(int, string, int, string, int) error { links++; return unix.EPERM }
				t.Cleanup(func() { linkat = restore })
			}
			mustNoErr(t, c.Copy(ctx, src, dst, nil, map[string][]byte{"user.extra": []byte("x")}))
			assertSameContent(t, src, dst)
			s, d := lstat(t, src), lstat(t, dst)
			if d.Mode != s.Mode || d.Uid != s.Uid || d.Gid != s.Gid || d.Mtim != s.Mtim || d.Nlink != 1 {
				t.Errorf("copy: mode %#o uid %d gid %d mtime %v nlink %d; want %#o %d %d %v 1", d.Mode, d.Uid, d.Gid, d.Mtim, d.Nlink, s.Mode, s.Uid, s.Gid, s.Mtim)
			}
			want := map[string]string{"user.a": "1", "trusted.b": "2", "user.extra": "x"}
			if got := xattrs(t, dst); !maps.Equal(got, want) {
				t.Errorf("copy's xattrs = %q, want %q", got, want)
			}
			if tt.refuseLink && links != 1 {
				t.Errorf("%d links of an unnamed copy tried, want 1", links)
			}
			l.assertWorkEmpty(t)
		})
	}
}

func TestCopyCancel(t *testing.T) {
	l := newLayout(t)
	src := filepath.Join(l.lower, "big")
	writeAt(t, src, 0, pattern(4*chunkSize+1, 4))
	c := l.copier(t)

	// Count how often a full copy checks its context, then cancel at the
	// first, second, middle and last check.
	count := &countdownCtx{Context: testCtx(t, 30*time.Second)}
	mustNoErr(t, c.Copy(count, src, filepath.Join(l.upper, "probe"), nil, nil))
	// Start, CopyData, one per chunk, publish: 8 on a filesystem that
	// copies, 3 on one that clones the data in one call.
	n := count.calls
	tests := []struct {
		name string
		at   int
	}{
		{"before start", 1},
		{"before data", 2},
		{"mid data", n / 2},
		{"before publish", n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.at <= 2 && tt.name == "mid data" {
				t.Skip("the filesystem cloned the data in one uninterruptible call")
			}
			ctx := &countdownCtx{Context: testCtx(t, 30*time.Second), n: tt.at}
			dst := filepath.Join(l.upper, "dst")
			err := c.Copy(ctx, src, dst, nil, nil)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Copy = %v, want context.Canceled", err)
			}
			if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("destination after cancel: %v, want none", err)
			}
			l.assertWorkEmpty(t)
		})
	}
}

func TestCopyConcurrent(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	l := newLayout(t)
	c := l.copier(t, NoSync())
	const n = 50
	for i := range n {
		writeAt(t, filepath.Join(l.lower, fmt.Sprint(i)), 0, pattern(64<<10+i, byte(i)))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprint(i)
			errs[i] = c.Copy(ctx, filepath.Join(l.lower, name), filepath.Join(l.upper, name), nil, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("copy %d: %v", i, err)
			continue
		}
		assertSameContent(t, filepath.Join(l.lower, fmt.Sprint(i)), filepath.Join(l.upper, fmt.Sprint(i)))
	}
	l.assertWorkEmpty(t)
}

func TestNewNeedsWorkDir(t *testing.T) {
	if _, err := New(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New without work dir = %v, want ErrNotExist", err)
	}
}
