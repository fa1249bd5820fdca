package tests

// stdStack is the layer stack most differential cases run on: three lowers,
// top first, with every kind of entry and every whiteout and opaque format.
// Names say what they test; a name ending in _target is whited out above.
func stdStack() []layer {
	top := layer{
		whiteoutWH("wh_dir_target"), // a directory hidden by .wh.
		whiteoutWH("dir1/x"),        // a file in a merged dir hidden by .wh.
		whiteoutDev("wh_two"),       // a name in both layers below
		file("top.txt", "top\n").xattr("user.top", "1"),
		dir("dir2"),
		file("dir2/t", "t\n"),
		opaqueWH("opq_top"),
		file("opq_top/only", "only\n"),
	}
	mid := layer{
		file("shared.txt", "shared from L1\n"),
		file("wh_two", "two from L1\n"),
		whiteoutDev("wh_dev_target"),
		whiteoutWH("wh_aufs_target"),
		whiteoutDev("wh_dev_dir"), // a directory hidden by a 0/0 device
		opaqueXattr("opq_xattr"),
		file("opq_xattr/new1", "new\n"),
		opaqueWH("opq_wh"),
		file("opq_wh/new2", "new\n"),
		whiteoutDev("emptyish/gone1"),
		whiteoutWH("emptyish/gone2"),
		file("dir1/z", "z\n"),
		file("dir1/y", "y from L1\n"),
		file("filedir", "now a file\n"), // a file over a directory below
		file("mid_only", "m\n"),
		file("dir2/m", "m\n"),
	}
	bottom := layer{
		file("a.txt", "bottom a\n").xattr("user.color", "blue").xattr("trusted.lamina", "t"),
		file("shared.txt", "shared from L2\n"),
		file("wh_two", "two from L2\n"),
		file("wh_dev_target", "hidden by a 0/0 device\n"),
		file("wh_aufs_target", "hidden by .wh.\n"),
		dir("wh_dir_target"),
		file("wh_dir_target/child", "c\n"),
		dir("wh_dev_dir"),
		file("wh_dev_dir/child", "c\n"),
		file("dir1/x", "x\n"),
		file("dir1/y", "y from L2\n"),
		file("dir1/sub/deep", "deep\n"),
		file("opq_xattr/old1", "old\n"),
		dir("opq_xattr/olddir"),
		file("opq_wh/old2", "old\n"),
		file("opq_top/hidden", "h\n"),
		file("emptyish/gone1", "1\n"),
		file("emptyish/gone2", "2\n"),
		file("nonempty/child", "c\n"),
		file("setuid_bin", "#!/bin/sh\n").mode(0o4755),
		file("owned", "mine\n").own(1000).mode(0o640),
		dir("owned_dir").own(1000).mode(0o750),
		file("owned_dir/f", "f\n").own(1000),
		sparse("sparse", 1<<20, "middle"),
		file("hl_a", "linked\n"),
		hardlink("hl_b", "hl_a"),
		symlink("link_to_a", "a.txt"),
		symlink("dangling", "nowhere"),
		fifo("fifo").mode(0o600),
		file("lowerdir_mv/f", "f\n"),
		file("filedir/under", "u\n"),
		dir("xdir").xattr("user.dirattr", "d"),
		dir("sticky").mode(0o1777),
	}
	return []layer{top, mid, bottom}
}
