package tests

// namespaceCases create, remove and rename names, leaving whiteouts and
// opaque directories in the upper layer.
func namespaceCases() []diffCase {
	return []diffCase{
		{name: "unlink_then_recreate", ops: []op{
			doUnlink("a.txt"), doStat("a.txt"), doReaddir("."),
			doCreate("a.txt", "recreated\n"), doRead("a.txt"), doListxattr("a.txt"), doStat("a.txt"),
			doUnlink("dir1/y"), doReaddir("dir1"),
			doUnlink("link_to_a"), doUnlink("fifo"), doUnlink("hl_a"), doStat("hl_b"),
			doUnlink("dir1"), doUnlink("missing"), doUnlink("wh_dev_target"),
		}},
		{name: "unlink_name_in_two_lowers", ops: []op{
			doUnlink("shared.txt"), doStat("shared.txt"), doReaddir("."),
			doCreate("shared.txt", "fresh\n"), doRead("shared.txt"),
			doUnlink("shared.txt"), doRead("shared.txt"),
			doUnlink("dir2/m"), doUnlink("dir2/t"), doReaddir("dir2"), doRmdir("dir2"), doStat("dir2"),
		}},
		{name: "rmdir_whiteout_only_dir", ops: []op{
			doReaddir("emptyish"), doRmdir("emptyish"), doStat("emptyish"), doReaddir("."),
			doMkdir("emptyish", 0o755), doReaddir("emptyish"), doStat("emptyish/gone1"),
		}},
		{name: "rmdir_nonempty", ops: []op{
			doRmdir("nonempty"), doRmdir("dir1"), doRmdir("opq_xattr"), doRmdir("opq_wh"),
			doRmdir("a.txt"), doRmdir("missing"), doRmdir("wh_dir_target"),
			doUnlink("nonempty/child"), doRmdir("nonempty"), doStat("nonempty"),
			doRmdir("opq_xattr/olddir"),
		}},
		{name: "mkdir_over_whiteout_is_opaque", ops: []op{
			doMkdir("wh_dir_target", 0o750), doStat("wh_dir_target"), doReaddir("wh_dir_target"),
			doStat("wh_dir_target/child"),
			doMkdir("wh_dev_dir", 0o755), doReaddir("wh_dev_dir"),
			doMkdir("wh_dev_target", 0o755), doMkdir("wh_aufs_target", 0o755), doReaddir("."),
			doMkdir("dir1", 0o755), doMkdir("emptyish/gone1", 0o755), doReaddir("emptyish"),
			doCreate("wh_dir_target/new", "n"), doReaddir("wh_dir_target"),
		}},
		{name: "create_over_whiteout_in_setgid_dir", stack: []layer{{
			dir("sg").own(1000).mode(0o2775),
			file("sg/f", "f\n"), dir("sg/d"), file("sg/n", "n\n"),
		}}, ops: []op{
			// Found by TestRandomDifferential: an entry made over a whiteout
			// is staged in the work directory, so it must be given the
			// setgid parent's group and setgid bit explicitly.
			doUnlink("sg/f"), doMkdir("sg/f", 0o700), doStat("sg/f"),
			doRmdir("sg/d"), doCreate("sg/d", "now a file\n"), doStat("sg/d"),
			doUnlink("sg/n"), doMkfifo("sg/n"), doStat("sg/n"),
			doMkdir("sg/fresh", 0o755), doStat("sg/fresh"),
		}},
		{name: "fstat_after_remove", ops: []op{
			// Found by TestRandomDifferential: the daemon has no handle on
			// an open fifo or directory, so fstat after the unlink asked
			// for a name that was gone (ENOENT).
			doMkfifo("newfifo"), doFstatRemoved("newfifo"),
			doFstatRemoved("fifo"),
			doMkdir("newdir", 0o755), doFstatRemoved("newdir"),
			doFstatRemoved("emptyish"),
			doCreate("newfile", "f"), doFstatRemoved("newfile"),
			doFstatRemoved("mid_only"),
		}},
		{name: "fstat_after_copyup_and_remove", ops: []op{
			// Found by TestRandomDifferential: a read-only descriptor
			// opened on the lower file, then copied up and removed,
			// reported the lower file; it must report the removed copy.
			doFstatCopiedRemoved("a.txt", "more\n"),
			doFstatCopiedRemoved("dir1/sub/deep", "more\n"),
			// The same when a rename replaces the copied-up file.
			doFstatReplaced("mid_only", 0o755, "top.txt"),
			doFstatReplaced("dir1/y", 0o600, "shared.txt"),
			// Found by TestRandomDifferential: the removed copy grows
			// through another descriptor; the read-only one, never
			// switched to the copy, must still see it.
			doStaleFDRemovedGrown("owned_dir/f", "grown\n"),
			doStaleFDRemovedGrown("setuid_bin", "grown\n"),
		}, notWithPassthrough: "a descriptor the kernel passes through to the lower file stays on it after copy-up (unionfs doc, Passthrough)"},
		{name: "change_after_remove", ops: []op{
			// fchmod and the like on a removed file reached the daemon for a
			// name that was gone (ENOENT); they change the removed file.
			doCreate("newfile", "f"), doChangeRemoved("newfile"),
			doChangeRemoved("a.txt"),
			doChangeRemoved("dir1/sub/deep"),
		}},
		{name: "tmpfile", ops: []op{
			// O_TMPFILE was EOPNOTSUPP; reopening a removed file through
			// /proc/self/fd was ENOENT.
			doTmpfile(".", "tmp_top", "top\n"), doStat("tmp_top"), doRead("tmp_top"), doListxattr("tmp_top"),
			doTmpfile("dir1/sub", "dir1/sub/tmp_named", "in a lower dir\n"), doReaddir("dir1/sub"),
			doTmpfile("dir1", "other_dir_name", "named elsewhere\n"), doStat("other_dir_name"),
			doTmpfile("emptyish", "", "never named\n"), doReaddir("emptyish"),
			doTmpfileExcl(".", "tmp_excl"), doStat("tmp_excl"),
			doTmpfile("a.txt", "x", ""),
			doCreate("newfile", "new\n"), doReopenRemoved("newfile"),
			doReopenRemoved("a.txt"), doReopenRemoved("dir1/sub/deep"),
			// The reopen of a removed fifo whose owner had changed was
			// ENOENT: the kernel asks for its ACL, which the daemon could
			// not reach (found by TestRandomDifferential, seed 154).
			doReopenRemovedFifo("fifo_chowned"),
		}},
		{name: "create_over_whiteout", ops: []op{
			doCreate("wh_aufs_target", "new\n"), doRead("wh_aufs_target"), doStat("wh_aufs_target"),
			doCreate("wh_dev_target", "new\n"), doRead("wh_dev_target"),
			doCreate("emptyish/gone1", "back\n"), doReaddir("emptyish"),
			doCreate("wh_dir_target", "file now\n"), doStat("wh_dir_target"),
			doCreate("dir1/x", "x again\n"), doReaddir("dir1"),
			doSymlink("a.txt", "wh_two"), doReadlink("wh_two"),
			doReaddir("."),
		}},
		{name: "create_excl_existing", ops: []op{
			doCreateExcl("a.txt"), doCreateExcl("dir1"), doCreateExcl("shared.txt"),
			doCreateExcl("link_to_a"), doCreateExcl("dangling"),
			doCreateExcl("wh_dev_target"), doCreateExcl("dir1/x"), doCreateExcl("opq_wh/old2"),
			doStat("wh_dev_target"), doRead("a.txt"),
		}},
		{name: "rename_file", ops: []op{
			doRename("a.txt", "renamed.txt"), doStat("a.txt"), doRead("renamed.txt"), doListxattr("renamed.txt"),
			doRename("mid_only", "top.txt"), doRead("top.txt"), doStat("mid_only"),
			doRename("shared.txt", "dir2/shared"), doRead("dir2/shared"), doStat("shared.txt"),
			doRename("dir1/y", "dir1/z"), doReaddir("dir1"), doRead("dir1/z"),
			doRename("link_to_a", "newlink"), doReadlink("newlink"),
			doRename("renamed.txt", "dir1"),
			doRename("renamed.txt", "wh_dev_target"), doRead("wh_dev_target"), doReaddir("."),
			doRename("missing", "x"),
		}},
		{name: "rename_lower_dir_exdev", ops: []op{
			doRename("lowerdir_mv", "moved"), doRename("dir1", "dir1b"), doRename("opq_wh", "opq2"),
			doRename("dir1/sub", "dir2/sub"), doStat("lowerdir_mv"), doStat("moved"),
			doMkdir("emptyish", 0o755),
		}},
		{name: "rename_lower_dir_redirect", redirectDir: "on", ops: []op{
			// A lower-only directory, and back over its whiteout.
			doRename("lowerdir_mv", "moved"), doReaddir("moved"), doRead("moved/f"), doStat("lowerdir_mv"),
			doAppend("moved/f", "more\n"), doRename("moved", "lowerdir_mv"), doRead("lowerdir_mv/f"),
			// A directory merged from three layers, with a whiteout above.
			doRename("dir1", "dir1b"), doReaddir("dir1b"), doRead("dir1b/z"), doStat("dir1b/x"), doStat("dir1"),
			doUnlink("dir1b/y"), doCreate("dir1b/new", "new\n"), doReaddir("dir1b"),
			// Nested: out of a renamed directory into another parent.
			doRename("dir1b/sub", "dir2/sub"), doReaddir("dir2/sub"), doRead("dir2/sub/deep"), doReaddir("dir1b"),
			doUnlink("dir2/sub/deep"), doRmdir("dir2/sub"), doStat("dir2/sub"),
			doRename("dir1b", "dir1"), doReaddir("dir1"),
			// Opaque in the middle layer: what it hides stays hidden.
			doRename("opq_wh", "opq2"), doReaddir("opq2"),
			// Onto names the lower layers fill below a whiteout: they stay hidden.
			doRename("xdir", "wh_dev_dir"), doReaddir("wh_dev_dir"), doListxattr("wh_dev_dir"),
			doRename("owned_dir", "wh_dir_target"), doReaddir("wh_dir_target"), doStat("wh_dir_target/f"),
			// Onto an empty upper directory, and a full lower one.
			doMkdir("emptydst", 0o755), doRename("dir2", "emptydst"), doReaddir("emptydst"), doRead("emptydst/m"),
			doRename("emptydst", "nonempty"), doRename("sticky", "emptydst/sticky"), doStat("emptydst/sticky"),
			doReaddir("."),
		}},
		{name: "rename_upper_dir", ops: []op{
			doMkdir("newd", 0o755), doCreate("newd/f", "f\n"), doRename("newd", "newd2"),
			doReaddir("newd2"), doRead("newd2/f"), doStat("newd"),
			doRename("newd2", "dir2/newd3"), doReaddir("dir2/newd3"),
			doMkdir("empty_target", 0o755), doRename("dir2/newd3", "empty_target"), doRead("empty_target/f"),
			doRename("empty_target", "nonempty"),
			doRename("empty_target", "wh_dir_target"), doReaddir("wh_dir_target"), doStat("empty_target"),
		}},
		{name: "hardlink_lower", ops: []op{
			doLink("a.txt", "a.link"), doStat("a.txt"), doStat("a.link"),
			doAppend("a.link", "via link\n"), doRead("a.txt"),
			doLink("hl_a", "hl_c"), doStat("hl_a"), doStat("hl_b"), doStat("hl_c"),
			doLink("dir1", "dir1.link"), doLink("a.txt", "top.txt"), doLink("missing", "m"),
			doLink("mid_only", "wh_dev_target"), doRead("wh_dev_target"), doStat("mid_only"),
			doLink("dir1/z", "dir2/z"), doStat("dir2/z"),
		}},
		{name: "symlink_and_fifo", ops: []op{
			doSymlink("a.txt", "newlink"), doReadlink("newlink"), doRead("newlink"), doStat("newlink"),
			doSymlink("x", "a.txt"), doSymlink("../../escape", "dir1/sub/up"), doReadlink("dir1/sub/up"),
			doSymlink("t", "wh_aufs_target"), doReadlink("wh_aufs_target"),
			doMkfifo("newfifo"), doStat("newfifo"), doMkfifo("fifo"), doMkfifo("dir1/f"), doStat("dir1/f"),
			doMkfifo("wh_dev_target"), doStat("wh_dev_target"),
		}},
		{name: "mkdir_rmdir_nested", ops: []op{
			doMkdir("n1", 0o755), doMkdir("n1/n2", 0o700), doMkdir("n1/n2/n3", 0o755),
			doCreate("n1/n2/n3/f", "f"), doRmdir("n1"), doRmdir("n1/n2/n3"),
			doUnlink("n1/n2/n3/f"), doRmdir("n1/n2/n3"), doRmdir("n1/n2"), doRmdir("n1"), doStat("n1"),
			doMkdir("dir1/sub/new", 0o755), doStat("dir1/sub/new"), doRmdir("dir1/sub/new"),
			doReaddir("dir1/sub"), doStat("dir1/sub"),
			doMkdir("a.txt", 0o755), doMkdir("missing/x", 0o755),
		}},
	}
}
