package tests

import "golang.org/x/sys/unix"

// writeCases change the data or metadata of lower files, which copies them
// up.
func writeCases() []diffCase {
	return []diffCase{
		{name: "write_copyup", ops: []op{
			doWrite("a.txt", unix.O_WRONLY, 0, "BOTTOM"), doRead("a.txt"), doStat("a.txt"),
			doAppend("shared.txt", "appended\n"), doRead("shared.txt"),
			doAppend("dir1/sub/deep", "deeper\n"), doRead("dir1/sub/deep"),
			doStat("dir1"), doStat("dir1/sub"), doReaddir("dir1"),
			doWrite("dir1/y", unix.O_RDWR, 2, "Y"), doRead("dir1/y"),
			doWrite("mid_only", unix.O_WRONLY|unix.O_TRUNC, 0, "trunc+write"), doRead("mid_only"),
			doAppend("sparse", "tail"), doStat("sparse"), doReadAt("sparse", 1<<19, 8),
			doCreate("brand_new", "new file\n"), doRead("brand_new"), doStat("brand_new"),
			doAppend("link_to_a", "via link\n"), doRead("a.txt"), doStat("link_to_a"),
			doAppend("hl_a", "one link\n"), doRead("hl_a"), doRead("hl_b"), doStat("hl_a"), doStat("hl_b"),
		}},
		{name: "change_through_read_only_fd", ops: []op{
			// With passthrough the first fchmod was ESTALE: its copy-up
			// retired the node the descriptor holds.
			doChangeThroughReadOnlyFd("a.txt"), doListxattr("a.txt"), doRead("a.txt"),
			doChangeThroughReadOnlyFd("dir1/sub/deep"),
		}},
		{name: "write_preserves_metadata", ops: []op{
			doAppend("setuid_bin", "# more\n"), doStat("setuid_bin"),
			doAppend("owned", "more\n"), doStat("owned"),
			doAppend("owned_dir/f", "more\n"), doStat("owned_dir"), doStat("owned_dir/f"),
			doAppend("a.txt", "x"), doListxattr("a.txt"),
			doCreate("sticky/new", "n"), doStat("sticky"),
		}},
		{name: "stale_fd_sees_copyup", ops: []op{
			doStaleFD("mid_only", "M"),
			doStaleFD("dir1/sub/deep", "DEEP"),
		}, notWithPassthrough: "a descriptor the kernel passes through to the lower file keeps reading it after copy-up (unionfs doc, Passthrough); TestPassthroughStaleFD pins that"},
		{name: "truncate_lower", ops: []op{
			doTruncate("a.txt", 3), doRead("a.txt"), doStat("a.txt"),
			doTruncate("sparse", 100), doStat("sparse"),
			doTruncate("shared.txt", 1<<16), doStat("shared.txt"), doReadAt("shared.txt", 0, 20),
			doTruncate("hl_a", 0), doStat("hl_a"), doRead("hl_b"),
			doTruncate("dir1", 0),
			doTruncate("wh_dev_target", 0),
		}},
		{name: "chmod_chown_utimens", ops: []op{
			doChmod("a.txt", 0o600), doStat("a.txt"),
			doChown("owned", 0, 0), doStat("owned"),
			doChown("setuid_bin", 1000, 1000), doStat("setuid_bin"), // clears setuid
			doChmod("setuid_bin", 0o4755), doStat("setuid_bin"),
			doUtimens("mid_only"), doStat("mid_only"),
			doUtimens("link_to_a"), doStat("link_to_a"), doStat("a.txt"),
			doChown("dangling", 1000, 1000), doStat("dangling"),
			doChmod("dir1", 0o700), doStat("dir1"), doReaddir("dir1"),
			doChown("dir1/sub", 1000, 1000), doStat("dir1/sub"), doStat("dir1"),
			doUtimens("opq_wh"), doStat("opq_wh"), doReaddir("opq_wh"),
			doChmod("fifo", 0o666), doStat("fifo"),
			doChmod("wh_dev_target", 0o600),
		}},
		{name: "xattrs_lower", ops: []op{
			doSetxattr("a.txt", "user.new", "1"), doListxattr("a.txt"),
			doRemovexattr("a.txt", "user.color"), doListxattr("a.txt"),
			doGetxattr("a.txt", "user.color"),
			doRemovexattr("a.txt", "user.never"),
			doSetxattr("dir1", "user.d", "dirval"), doListxattr("dir1"), doReaddir("dir1"),
			doRemovexattr("xdir", "user.dirattr"), doListxattr("xdir"),
			doSetxattr("mid_only", "trusted.mine", "t"), doGetxattr("mid_only", "trusted.mine"),
			doSetxattr("hl_a", "user.h", "h"), doListxattr("hl_b"),
			doSetxattr("opq_wh", "user.o", "o"), doReaddir("opq_wh"),
		}},
		{name: "fallocate", ops: []op{
			doFallocate("a.txt", 0, 0, 8192), doStat("a.txt"), doRead("a.txt"),
			doFallocate("sparse", unix.FALLOC_FL_KEEP_SIZE, 0, 4096), doStat("sparse"),
			doFallocate("fresh", 0, 4096, 4096), doStat("fresh"),
			doFallocate("mid_only", unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 1), doRead("mid_only"),
		}},
		{name: "fsync", ops: []op{
			doFsync("a.txt", "synced\n"), doRead("a.txt"),
			doFsync("dir1", ""),
			doFsync("mid_only", "m2\n"), doRead("mid_only"),
			doCreate("n", "n"), doFsync("n", "more"), doRead("n"),
		}},
	}
}
