// Package unionfs is lamina's union filesystem: a FUSE daemon, built on
// github.com/hanwen/go-fuse/v2, that presents read-only lower directories
// and an optional writable upper directory as one tree with the semantics
// of kernel overlayfs. The package also drives kernel overlayfs itself
// behind the same configuration (see Driver), so callers choose a driver,
// not an API.
//
// # Model and vocabulary
//
// A union has layers. Lowers are read-only directories, listed top first;
// lamina never writes to them. The upper is a writable directory; without
// one the union is read-only and every write gets EROFS. The work directory
// is scratch space on the upper's filesystem: copy-up and whiteout
// replacement stage entries in <work>/work and publish them with rename(2),
// so that a crash never leaves a torn entry visible. <work>/work is emptied
// at mount.
//
// An entry's path is the same in every layer. Looking a name up goes top
// down: upper first, then each lower. The first layer holding the name
// supplies the entry ("topmost"). A whiteout in a layer stops the search; a
// non-directory hides every layer below it; a directory merges with the
// directories of the same path below it until a layer marks it opaque. The
// package whiteout owns every on-disk whiteout, opaque and private-xattr
// format; this package only asks it questions and never spells a format.
//
// Copy-up moves an entry from a lower to the upper the first time it is
// modified: parents first (each an empty directory with its lower
// metadata), then the entry itself through package copyup (data, then
// owner, mode, xattrs and times, then an atomic rename). A copied-up
// file stores the union inode number it had before copy-up in lamina's
// private origin xattr, so st_ino survives copy-up and remounts.
//
// # Nodes
//
// Each kernel inode is a node: the go-fuse Inode plus where the entry lives.
// Operations address layers by path: in the upper, the node's path in the
// union (from go-fuse's parent links) joined to the upper root; in a lower,
// the path lookup found it at (its union path unless a redirect says
// otherwise, below) joined to that lower's root. That is safe because a
// path only ever descends through directories that lookup has verified to
// be real directories in that layer, lowers never change, and the upper
// changes only through this daemon. The price: an entry whose path in a
// layer, root included, is longer than PATH_MAX (4096 bytes) answers
// ENAMETOOLONG, where kernel overlayfs, which walks dentries, has no such
// limit (fuse-overlayfs, which passes paths too, has it). A node records:
//
//   - upper: the entry exists in the upper layer;
//   - lower: the index of the topmost lower holding the entry (the copy-up
//     source), or -1, and lowerRel, its path there;
//   - dirs (directories only): the lower layers merged into this directory,
//     top to bottom, each with its path there and whether it may hold
//     kernel xwhiteouts.
//
// # Redirects
//
// Kernel overlayfs with redirect_dir=on renames a directory that exists in
// a lower layer by copying it up (empty), moving the copy, and recording on
// it where its lower copies are: a redirect xattr (whiteout.DirInfo), an
// absolute path from the layers' root or, within the same parent, a name.
// Lookup follows redirects as the kernel does by default
// (redirect_always_follow): below a directory that carries one, the layers
// are searched at the redirect instead of the directory's own name: for a
// name, in the parent's lower directories; for a path, from the root of
// every lower below, one component at a time, none followed (a whiteout or
// a non-directory on the way hides the layers below; an opaque directory
// on the way is the last layer taken). The paths found become the node's
// lowerRel and its dirs' paths, so everything below a renamed directory
// reads its lower copies where they are, and a later rename changes none
// of them. Redirects on the components of an absolute redirect are not
// followed (the kernel does; only a union renaming a directory inside one
// renamed in an earlier union of the same layers makes them).
//
// With redirect_dir=on (WithRedirectDir(RedirectOn)) Rename does the same
// for a directory with lower copies: copy-up, then an absolute redirect to
// its topmost lower copy, in the kernel's form and xattr namespace, then
// the move, leaving a whiteout where a lower copy was. Otherwise that
// rename is EXDEV, as the kernel's default. RedirectNoFollow ignores
// redirects. The kernel reads an upper with redirects when mounted with
// redirect_dir=on or follow, or off (its default follows), but never with
// userxattr: a rootless kernel mount neither makes nor follows them (and
// refuses redirect_dir= other than nofollow), so the auto driver takes
// FUSE for redirect_dir=on or follow there, and the kernel driver passes
// "off" on as nothing. Nor
// does the kernel read a redirect of the other namespace: the kernel
// driver refuses an upper (ErrForeignUpper) or a lower
// (ErrForeignRedirect; no shim can stand in for a redirect) holding one,
// and unionmount's auto driver then mounts with FUSE.
//
// # Inode numbers
//
// When every layer sits on one filesystem, st_ino is the real inode number
// of the topmost entry, as kernel overlayfs reports it. Otherwise the layer
// number is put in the high bits (kernel "xino"): upper is layer 0, lower i
// is layer i+1. Directories take the number of their topmost lower
// directory, or of the upper one if none. A copied-up file keeps the number
// it had: copy-up stores it in the origin xattr.
//
// Readdir's d_ino is the same number. Lower entries take it from the
// dirent; an upper non-directory is checked for an origin xattr, and an
// upper directory of a merged directory is looked up in the layers, so
// only upper entries cost more system calls when listed.
//
// A directory offset (d_off, telldir) is a hash of the entry's name, and a
// listing is in offset order, as ext4's: an open directory lists a
// snapshot, and one listed again later resumes after the same name, so a
// reader that deletes what it has read (rm -r) still sees every other
// entry once, whichever snapshot, or the kernel's listing cache, serves
// the rest.
//
// go-fuse treats a (number, generation) pair as one kernel inode, so the
// generation tells apart inodes that share st_ino: each name of a file
// hard-linked in a lower layer (its generation is hashed from layer, inode
// and path; copy-up splits such links, as kernel overlayfs without
// index=on does), and copied-up files (their generation is the real inode
// number of the upper file, shared by its hard links). A node copied up
// during this mount keeps the identity it was looked up with:
// Union.aliases maps the copied-up identity to it, until the kernel forgets
// the node (a node made later for the file has the copied-up identity,
// whose st_ino is the same, the origin's).
//
// Known limit: a file hard-linked in a lower layer changes st_ino at
// copy-up, so its node is retired (node.split, see retireOrAlias) and the
// kernel gets a new inode for the name. A descriptor opened before the
// copy-up stays on the retired inode: it keeps reading the lower file and
// fstat reports the lower file (or the kernel's cached attributes). On
// kernel overlayfs such a descriptor follows the copy-up.
// TestKnownStaleFDOnLowerHardLink in tests/ pins this.
//
// # Locking
//
// The kernel serialises namespace changes within one directory (it holds
// the directory's i_rwsem across create, unlink and rename), so two
// operations never race on one name. node.mu guards a node's fields and
// serialises its copy-up. Copy-up of a node takes its own lock and then its
// parent's (to copy the parent up first): locks are always taken child
// before parent, never the other way, so there is no cycle. No lock is held
// across the data path: reads and writes go straight to a file descriptor.
//
// The kernel does not serialise requests on an inode against a rename or
// unlink of its name, and go-fuse updates its tree of names (from which a
// node's path is computed) only after the Rename or Unlink handler has
// returned. Rename and remove therefore hold the moving node's lock across
// the change on disk and record the change on the node (node.moved) before
// they release it; a node's path follows that record until go-fuse's tree
// shows the change (pending.go). Requests that hold the node's lock while
// they use its path (open, setattr, setxattr, removexattr, link) thus see
// the entry before the change or after it, never a whiteout or another
// entry left at the old name. Lock-free readers of attributes (getattr,
// getxattr, listxattr) may still see the old name for that instant. A
// removed node keeps the attributes its entry had (node.gone), for fstat
// of a descriptor the kernel still holds where this daemon holds none (a
// fifo, a device, a directory); a removed regular file that this mount
// copied up or that is open also keeps a read-only descriptor on the file
// (node.goneFd, opened just before the removal, closed when the kernel
// forgets the node), so that a handle opened on the lower file before the
// copy-up reads the copy and fstat reports it, and fchmod, the f*xattr
// calls and reopens through /proc/self/fd reach the removed file, as on
// kernel overlayfs. An O_TMPFILE file is a node born removed (tmpfile.go).
//
// # Permissions and ACLs
//
// The kernel checks permissions (default_permissions) from the attributes
// the daemon reports and, with ACLs on (WithACL, the default), from the
// POSIX ACL xattrs it reads through GETXATTR and caches. The daemon acts
// as root and checks nothing itself. It gets modes without the umask
// (FUSE_DONT_MASK) and applies it unless the parent has a default ACL
// (umask.go); the upper file system then applies the default ACL, in the
// directory itself or, for an entry replacing a whiteout, in a staging
// directory that carries the same default ACL (Union.stagePath). With id
// mapping, the ids in ACL entries are mapped as owners are (acl.go).
//
// # Kernel caching
//
// Lowers are immutable, and the upper changes only through this daemon, so
// entries, attributes and negative lookups are cached by the kernel
// (Options.EntryTimeout and friends), file pages are kept across opens
// (FOPEN_KEEP_CACHE) and directory listings are cached (FOPEN_CACHE_DIR);
// the kernel drops them itself when it sends a change through the mount.
// Directories are read without OPENDIR and RELEASEDIR (dirless: the first
// OPENDIR is declined, and the kernel then caches listings on its own),
// which halves the round trips of a cold directory. Listing a directory
// also reads the directories it names ahead, in the background (dirahead.go;
// WithDirAhead): their listings and the lookups of their entries, for
// directories without an upper copy, whose contents are as fixed as the
// lowers. A walk then finds them ready instead of waiting for them. And
// when the files of such a directory are opened in order (listing or name
// order), the next ones are read into the page cache in the background
// (fileahead.go; WithFileAhead), as the kernel reads ahead within a file.
// READDIRPLUS replies carry attributes only where the reader will use them
// (readdirplus.go; WithReaddirPlus): in directories a walk reaches, and
// once the reader stats what it lists; a program that lists a large
// directory for a few names gets names alone, without a lookup, and on a
// cold cache an inode read, per entry.
// Changing layer directories behind a mounted union is not supported, as
// with kernel overlayfs. Setattr replies carry the same attribute timeout
// as lookups, so a chmod or utimes is not followed by a GETATTR. As root,
// Mount raises the mount's readahead from the kernel's 128 KiB to 512 KiB
// (maxReadAhead, through the backing device in sysfs), so sequential reads
// without passthrough reach the daemon in requests four times larger.
//
// # Passthrough
//
// With FUSE passthrough (kernel 6.9 and later, and CAP_SYS_ADMIN) the kernel
// reads and writes an opened file's backing file directly. The kernel
// keeps one backing file per inode while any passthrough open exists, and
// go-fuse registers it from the first open, so a handle on an upper file
// always holds an O_RDWR descriptor (whatever the caller asked for; the
// kernel still enforces the caller's access mode), and a handle on a lower
// file an O_RDONLY one.
//
// The daemon opens lower files and directories with O_NOATIME where it may
// (copyup.OpenLayerFile), so reading through the union leaves the lowers' access times
// alone, as on kernel overlayfs; a passed-through read is the exception: the
// kernel reads through a backing file it opens itself with the caller's
// flags, and relatime applies to the lower file.
//
// Once a lower file has been handed to the kernel (node.lowerPT), its
// inode may be backed by the lower file for as long as any handle, old or
// new, stays open, and go-fuse drops that backing only after our Release.
// Such a node is never given an upper descriptor: its copy-up retires it
// (node.split) instead, and every later open of it returns ESTALE. The VFS
// retries opens, truncates and path-based calls once with LOOKUP_REVAL;
// FUSE then looks the name up again and finds the copied-up file under a
// new identity (see "Inode numbers"), a new kernel inode with the same
// st_ino whose backing file is the upper copy. Handles opened before keep
// reading the lower file, as with kernel overlayfs before 4.19. Changes
// and reads of attributes and xattrs are not retried for a descriptor
// (fchmod, fsetxattr, fstat), so until the name goes to the new node
// (retiredPath) they reach the upper copy through the retired one, the
// change that made the copy included; after that they return ESTALE.
// Passthrough is turned off quietly when the kernel refuses it.
//
// # Transport
//
// Requests reach the node file system either through /dev/fuse, served by
// go-fuse's own loop, or through FUSE over io_uring (package uring), whose
// per-CPU queues are served by threads pinned to their CPUs. Both run the
// same file system (the dirless wrapper around go-fuse's node bridge);
// only the delivery differs. WithURing picks: auto uses the rings when the
// kernel's enable_uring parameter is on, and falls back to /dev/fuse (a
// fresh mount) when they cannot be set up. Once the INIT reply asks for
// io_uring the kernel holds every request until each queue has an entry,
// so Mount starts the queues before anything touches the mount.
//
// # The kernel driver: shim layers over foreign markers
//
// Kernel overlayfs reads only its own whiteout and opaque formats: 0/0
// character devices, and the opaque and xwhiteout xattrs of the one
// namespace it is mounted with ("trusted", or "user" with userxattr). A
// lower layer may hold markers it does not read (whiteout.ForeignMarkers
// finds them): ".wh.NAME" entries, ".wh..wh..opq", meta markers
// ".wh..wh.*", the opaque and xwhiteout xattrs of the other namespace and
// user.fuseoverlayfs.opaque. The kernel would show the marker files and
// ignore their effect. Lower layers are never modified, so MountOverlay
// converts such a layer L by adding two generated layers around it, and
// the kernel then shows what the FUSE daemon shows.
//
// The shim below L, B_L, sits directly under L in the lowerdir list, so
// what it says applies only to the layers below L, which is what a marker
// in L means:
//
//   - for a ".wh.NAME" entry in directory D of L, the kernel whiteout
//     D/NAME: a character device 0/0 with mode 0, owner of the mounter.
//     None is made when L itself has an entry NAME in D: lamina lets a real
//     entry win over a marker beside it, and then L's entry alone decides
//     (a directory merges with those below, anything else hides them).
//   - for a foreign xwhiteout D/NAME of L, the same device D/NAME.
//   - for a directory D of L made opaque by ".wh..wh..opq" or by a foreign
//     opaque xattr, an empty directory D carrying the kernel's opaque
//     xattr: "trusted.overlay.opaque" = "y", or "user.overlay.opaque" = "y"
//     when mounting with userxattr. Not for the root of L: neither the
//     kernel nor lamina lets a lower layer's root be opaque.
//   - the parent directories of the above: plain directories, mode 0755,
//     owned by the mounter, no xattrs. L has the same directories above
//     them, so B_L's are never the topmost copy and their metadata never
//     shows.
//
// The shim above L, T_L, sits directly over L. It hides what of L must not
// show:
//
//   - for every marker entry M in directory D of L (".wh.NAME",
//     ".wh..wh..opq", ".wh..wh.plnk" and the like, of any file type), a
//     character device 0/0 D/M, mode 0: a kernel whiteout of the name;
//   - for every foreign xwhiteout D/NAME of L (an empty regular file the
//     kernel would list), a character device 0/0 D/NAME;
//   - for every directory D of L with a foreign opaque xattr, the directory
//     D, so that the kernel takes D's metadata from T_L and does not show
//     the foreign xattr;
//   - the root directory and every directory on the way to the above.
//
// A directory of T_L becomes the topmost copy of that path whenever no
// layer above L has it, so each one is made with the metadata of the same
// directory of L: type, permission bits (with setuid, setgid and sticky),
// owner and group, every xattr except the private ones
// (whiteout.IsPrivateXattr), and atime and mtime with nanoseconds.
// Directories are copied with package copyup (an empty directory with the
// source's metadata, staged in <tmp>/work and renamed into place). Making
// the devices inside then changes their mtime, so once the tree is
// complete the times are set again, children before parents.
//
// The kernel's lowerdir list is the given one with every converted L
// replaced by T_L, L, B_L, in that order (top first). Layers without
// foreign markers pass through unchanged.
//
// # Where shims live
//
// All shims of one mount live in one directory, <base>/<hash>:
//
//   - <base> is /run/lamina/overlay-shims for root in the initial user
//     namespace, else $XDG_RUNTIME_DIR/lamina/overlay-shims; it is created
//     with mode 0700 (as are lamina/ and the shim directories themselves).
//   - <hash> is the first 16 bytes of the SHA-256 of the mountpoint's
//     absolute path with symlinks resolved, as 32 lowercase hex digits.
//   - inside it, for lower number i of the lowerdir list (0 is the top):
//     "<i>.above" is T_L and "<i>.below" is B_L.
//
// Shims are rebuilt from scratch at each mount. The build happens in a
// fresh directory <base>/<hash>.tmp-<random> (os.MkdirTemp), whose copyup
// scratch directory "work" is removed at the end; the directory is then
// renamed to <base>/<hash>. Before that, an old <base>/<hash> and any
// leftover <base>/<hash>.tmp-* are removed, but only if
// /proc/self/mountinfo shows neither a mount at the mountpoint nor a mount
// whose options name a path inside <base>/<hash>: the kernel keeps
// references to its layers, but a mounted overlay whose shims are deleted
// would change under its users. Such a case fails with ErrShimsInUse. A
// mount that needs no shims removes a stale <base>/<hash> on the same
// terms, quietly. Unmount removes <base>/<hash> after a successful
// umount(2), again on the same terms (removeShims). Mounts in other mount
// namespaces are not visible in /proc/self/mountinfo; the shim directory
// of a mount made in another namespace must not be reused from here.
//
// # Limits
//
// The upper layer cannot be shimmed (nothing can sit above it), so an
// upper with foreign markers makes DriverAuto choose FUSE and MountOverlay
// fail with ErrForeignUpper. Each converted lower adds two layers; when the
// kernel's lowerdir list would exceed maxKernelLowers, DriverAuto chooses
// FUSE and MountOverlay fails with ErrTooManyLowers.
//
// MountOverlay passes each lower with its own fsconfig(2) "lowerdir+" call
// (Linux 6.8 and later), so no escaping applies and the length of the list
// is not bounded by mount(2)'s one page of option data. On older kernels it
// falls back to mount(2) with an escaped "lowerdir=" list, which fails
// with a clear error when the data does not fit one page.
//
// What the kernel still shows differently from the FUSE daemon:
//
//   - private xattrs of the other union implementations (user.overlay.*
//     on a trusted mount, user.fuseoverlayfs.*, *.lamina.*) on entries that
//     T_L does not cover (files, and directories with no foreign marker
//     in or on them); lamina hides them;
//   - a directory whose topmost copy is in T_L reports T_L's st_ino,
//     st_ctime, st_size and st_blocks, and, being merged with L, st_nlink 1;
//   - a native xwhiteout in a directory without the "x" marker: lamina
//     shows an empty file; the kernel lists it but fails its lookup with
//     ENOENT (see package whiteout, "Kernel overlayfs");
//   - xwhiteouts that mix namespaces (a directory marked "x" in one
//     namespace holding a file with the whiteout xattr of the other):
//     lamina honours them, ForeignMarkers does not report them, so no shim
//     covers them and the kernel lists them as files.
//
// A directory the kernel copies up from T_L records T_L's file handle as
// its origin (trusted.overlay.origin in the upper). After the shims are
// rebuilt that handle is stale, and the kernel ignores it, as it does for
// layers copied elsewhere; only that directory's st_ino can change.
//
// # Errors
//
// Internal functions return Go errors that wrap syscall.Errno values; they
// become a syscall.Errno once, at the FUSE boundary (errno in up.go).
package unionfs
