package tests

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadOnly mounts the standard stack with no upper directory on both
// the kernel and the subject: every change must fail with EROFS, and the
// two read-only views must be the same tree.
func TestReadOnly(t *testing.T) {
	requireMountEnv(t)
	watchdog(t, 60*time.Second)
	root := t.TempDir()
	kMnt, sMnt := filepath.Join(root, "k-mnt"), filepath.Join(root, "s-mnt")
	mustMkdirAll(t, kMnt, sMnt)
	mountKernel(t, buildOracleStack(t, root, "k-lower", stdStack()), "", "", kMnt)
	mountSubject(t, buildStack(t, root, "s-lower", stdStack()), "", "", sMnt)

	erofs := []struct {
		name string
		op   op
	}{
		{"create", doCreate("new", "x")},
		{"open_wronly", doWrite("a.txt", unix.O_WRONLY, 0, "x")},
		{"open_trunc", doWrite("a.txt", unix.O_RDWR|unix.O_TRUNC, 0, "x")},
		{"append", doAppend("shared.txt", "x")},
		{"create_excl_over_whiteout", doCreateExcl("wh_dev_target")},
		{"truncate", doTruncate("a.txt", 0)},
		{"mkdir", doMkdir("newdir", 0o755)},
		{"mkdir_over_whiteout", doMkdir("wh_dir_target", 0o755)},
		{"unlink", doUnlink("a.txt")},
		{"rmdir", doRmdir("emptyish")},
		{"rename", doRename("a.txt", "b.txt")},
		{"link", doLink("a.txt", "a.link")},
		{"symlink", doSymlink("a.txt", "s")},
		{"mkfifo", doMkfifo("f")},
		{"chmod", doChmod("a.txt", 0o600)},
		{"chown", doChown("a.txt", 1000, 1000)},
		{"utimens", doUtimens("a.txt")},
		{"setxattr", doSetxattr("a.txt", "user.x", "1")},
		{"removexattr", doRemovexattr("a.txt", "user.color")},
		{"fallocate", doFallocate("a.txt", 0, 0, 4096)},
	}
	for _, c := range erofs {
		t.Run(c.name, func(t *testing.T) {
			kr, sr := c.op.fn(kMnt), c.op.fn(sMnt)
			if !strings.HasSuffix(sr, "EROFS") {
				t.Errorf("%s: subject %s, want EROFS", c.op.name, sr)
			}
			if kr != sr {
				t.Errorf("%s: kernel %s, subject %s", c.op.name, kr, sr)
			}
		})
	}
	t.Run("same_tree", func(t *testing.T) {
		if d := diffSnapshots("kernel", takeSnapshot(kMnt), "subject", takeSnapshot(sMnt)); len(d) > 0 {
			t.Errorf("read-only trees differ (%d paths):\n%s", len(d), strings.Join(d, "\n"))
		}
	})
	t.Run("reads_still_work", func(t *testing.T) {
		for _, o := range []op{doRead("a.txt"), doRead("dir1/y"), doReaddir("dir1"), doListxattr("a.txt")} {
			if kr, sr := o.fn(kMnt), o.fn(sMnt); kr != sr || !strings.HasPrefix(sr, "ok") {
				t.Errorf("%s: kernel %s, subject %s", o.name, kr, sr)
			}
		}
	})
	unmountKernel(t, kMnt)
	unmountSubject(t, sMnt)
}
