package tests

import "golang.org/x/sys/unix"

// readCases only look: lookups through every whiteout and opaque format,
// merged listings and plain reads.
func readCases() []diffCase {
	return []diffCase{
		{name: "lookup_through_whiteouts", ops: []op{
			doStat("wh_dev_target"),  // 0/0 device over a file
			doStat("wh_aufs_target"), // .wh. over a file
			doStat("wh_dir_target"),  // .wh. over a dir
			doStat("wh_dir_target/child"),
			doStat("wh_dev_dir"), // 0/0 device over a dir
			doStat("wh_dev_dir/child"),
			doStat("wh_two"), // 0/0 device over a name in two layers
			doStat("dir1/x"), // .wh. in a merged dir
			doStat("emptyish/gone1"),
			doStat("emptyish/gone2"),
			doStat(".wh.wh_aufs_target"), // markers are never names
			doStat(".wh.wh_dir_target"),
			doStat("emptyish/.wh.gone2"),
			doStat("opq_wh/.wh..wh..opq"),
			doStat("opq_top/.wh..wh..opq"),
			doStat("opq_xattr/old1"), // trusted.overlay.opaque hides below
			doStat("opq_xattr/olddir"),
			doRead("opq_xattr/new1"),
			doStat("opq_wh/old2"), // .wh..wh..opq hides below
			doRead("opq_wh/new2"),
			doStat("opq_top/hidden"),
			doRead("opq_top/only"),
			doStat("filedir"), // a file hides the dir below
			doStat("filedir/under"),
			doRead("filedir"),
			doGetxattr("opq_xattr", "trusted.overlay.opaque"),
			doGetxattr("opq_wh", "trusted.overlay.opaque"),
			doListxattr("opq_xattr"),
			doListxattr("opq_wh"),
		}},
		{name: "lookup_merged_and_special", ops: []op{
			doRead("a.txt"), doStat("a.txt"),
			doRead("shared.txt"), // topmost copy wins
			doRead("dir1/y"),
			doRead("dir1/z"),
			doRead("dir1/sub/deep"),
			doRead("mid_only"),
			doRead("top.txt"),
			doStat("dir1"), doStat("dir2"), doStat("."),
			doStat("setuid_bin"), doStat("owned"), doStat("owned_dir"), doStat("sticky"),
			doStat("fifo"),
			doStat("link_to_a"), doReadlink("link_to_a"), doRead("link_to_a"),
			doStat("dangling"), doReadlink("dangling"), doRead("dangling"),
			doStat("hl_a"), doStat("hl_b"),
			doStat("sparse"), doReadAt("sparse", 1<<19, 8), doReadAt("sparse", 0, 8),
			doListxattr("a.txt"), doGetxattr("a.txt", "user.color"), doGetxattr("a.txt", "trusted.lamina"),
			doGetxattr("a.txt", "user.missing"),
			doListxattr("xdir"), doListxattr("top.txt"),
		}},
		{name: "open_error_paths", ops: []op{
			doOpen("dir1", unix.O_WRONLY),
			doOpen("dir1", unix.O_RDWR),
			doOpen("a.txt", unix.O_RDONLY|unix.O_DIRECTORY),
			doOpen("a.txt/x", unix.O_RDONLY),
			doOpen("missing", unix.O_RDONLY),
			doOpen("wh_dir_target/child", unix.O_RDONLY),
			doOpen("dangling", unix.O_RDONLY),
			doOpen("link_to_a", unix.O_RDONLY|unix.O_NOFOLLOW),
			doReadlink("a.txt"),
			doStat("a.txt/"),
		}},
		{name: "readdir_merged", ops: []op{
			doReaddir("."),
			doReaddir("dir1"),
			doReaddir("dir1/sub"),
			doReaddir("dir2"),
			doReaddir("opq_xattr"),
			doReaddir("opq_wh"),
			doReaddir("opq_top"),
			doReaddir("emptyish"),
			doReaddir("owned_dir"),
			doReaddir("wh_dev_dir"),
			doReaddir("wh_dir_target"),
			doReaddir("filedir"),
		}},
		{name: "readdir_rewind", ops: []op{
			doRewind("."),
			doRewind("dir1"),
			doRewind("emptyish"),
			doRewind("opq_wh"),
		}},
	}
}
