// Package bench measures lamina's union filesystem against its peers on the
// same machine, in one run, with the same fixture.
//
// # Configurations
//
// A configuration is a [Mounter]: something that presents lower layers plus
// an empty upper directory at a mount point. The configurations are
//
//   - ext4: the layers copied, bottom first, into one plain directory on the
//     same disk and bind-mounted at the mount point (no union at all);
//   - kernel-overlay: mount -t overlay, the baseline every ratio is taken to;
//   - lamina-fuse and lamina-passthrough: bin/unionmount --driver fuse with
//     passthrough=off and passthrough=on; both fsync copied-up data before
//     publishing it (lamina's default, as kernel overlayfs does), and both
//     are served through io_uring queues where the kernel offers them
//     (lamina's default; the report says whether it did);
//   - lamina-fuse-nofsync: lamina-fuse with fsync=0, the copy-up durability
//     fuse-overlayfs has (it never fsyncs);
//   - lamina-passthrough-devfuse: lamina-passthrough with uring=off, every
//     request through /dev/fuse as in the other FUSE daemons;
//   - fuse-overlayfs and unionfs-fuse, when installed.
//
// A Mounter may also implement [Checker]. A Check error that wraps
// [ErrNotInstalled] drops the configuration from the run (an optional peer
// that is not installed); any other Check error keeps the column and fills it
// with "n/a: <reason>". A Mount error does the same for every cell from that
// point on, so a lamina build that cannot mount yet never aborts the run.
//
// # Fixture
//
// The tree is a Debian bookworm minbase rootfs with python3, built once with
// debootstrap and cached (default /var/cache/lamina-bench/rootfs). When
// debootstrap is missing or fails, a busybox-static tree padded with
// generated files stands in, and the report says so. Each run copies the tree
// into a scratch directory on the same disk and splits it into three lower
// layers (usr/lib, usr/share, everything else) so that lookups and readdir of
// /usr merge three layers. A fourth, topmost lower holds generated data: a
// 1 GiB file of pseudo-random bytes and 200 files of 4 KiB in 10 directories.
// The untar workload's tarball (5,000 files of 4 KiB) is written once, outside
// every mount.
//
// # Method
//
// For each workload, for each run, for each configuration in turn (so that
// drift on the machine hits every configuration alike): a fresh upper, work
// and mount directory; Mount; sync and drop the page, dentry and inode caches;
// warm the host tools the workload runs (find, tar, dd, chroot) and its
// tarball, which live outside the mount; time the workload; check that its
// result is right (entry counts, bytes read, file sizes); unmount; move the
// directories aside, to be removed when the run ends (deleting thousands of
// files makes the next creates slow on an ext4 without a journal, which
// would charge one configuration's clean-up to the next one's writes); a
// Bulky workload's (the large copy-up) are removed at once. Timed regions run external programs where the measurement
// could otherwise be of Go rather than of the filesystem. The cell value is
// the median of the runs.
//
// # Running
//
// As root, from the module root:
//
//	make bench-fs
//	go run ./bench/cmd/benchfs --unionmount bin/unionmount --out bench/results
//
// --runs sets the runs per cell (default 3; the default run takes about 6
// minutes on a 2-core VM once the tree is cached, the first debootstrap adds
// 1-3). --configs and --workloads pick a subset by name, --big-mib shrinks
// the large file for quick checks, --tree busybox forces the fallback tree,
// --keep keeps the scratch directory. Progress goes to stderr, the table and
// the verdict on lamina's targets to stdout, and the report to fs.md and the
// chart to fs.svg in --out.
//
// # Cleanup
//
// Every mount is undone by a deferred unmount that runs on a context detached
// from the caller's cancellation, so an interrupt still unmounts. A polite
// unmount (fusermount3 -u, unionmount --unmount, umount) that fails is
// followed by aborting the FUSE connection and a lazy (MNT_DETACH) unmount.
// Before the scratch directory is created and after the run, every mount
// under it is detached, and nothing is removed while anything is mounted
// below it.
package bench
