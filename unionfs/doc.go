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
// Operations address layers by path: the node's path in the union (from
// go-fuse's parent links) joined to a layer root. That is safe because a
// path only ever descends through directories that lookup has verified to
// be real directories in that layer, lowers never change, and the upper
// changes only through this daemon. A node records:
//
//   - upper: the entry exists in the upper layer;
//   - lower: the index of the topmost lower holding the entry (the copy-up
//     source), or -1;
//   - dirs (directories only): the lower layers merged into this directory,
//     top to bottom, each with whether it may hold kernel xwhiteouts.
//
// # Inode numbers
//
// When every layer sits on one filesystem, st_ino is the real inode number
// of the topmost entry, as kernel overlayfs reports it. Otherwise the layer
// number is put in the high bits (kernel "xino"): upper is layer 0, lower i
// is layer i+1. A file that has hard links in a lower layer gets a number
// hashed from its layer, real inode and path into the top half of the
// range: go-fuse treats one inode number as one kernel inode, and such
// links must split on copy-up (kernel overlayfs without index=on splits
// them too), so each name must be its own inode. Directories take the
// number of their topmost lower directory, or of the upper one if none.
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
// # Kernel caching
//
// Lowers are immutable, and the upper changes only through this daemon, so
// entries, attributes and negative lookups are cached by the kernel
// (Options.EntryTimeout and friends), file pages are kept across opens
// (FOPEN_KEEP_CACHE) and directory listings are cached (FOPEN_CACHE_DIR);
// the kernel drops them itself when it sends a change through the mount.
// Changing layer directories behind a mounted union is not supported, as
// with kernel overlayfs.
//
// # Passthrough
//
// With FUSE passthrough (kernel 6.9 and later, and CAP_SYS_ADMIN) the kernel
// reads and writes an opened file's backing file directly. The kernel
// allows one backing file per inode while any passthrough open exists, and
// go-fuse registers it from the first open. So a handle on an upper file
// always holds an O_RDWR descriptor (whatever the caller asked for; the
// kernel still enforces the caller's access mode), and a handle on a lower
// file an O_RDONLY one. A write-open of a lower file that is open for
// passthrough reading at that moment cannot switch the inode to the upper
// copy and fails with EBUSY; kernel overlayfs does not have this limit.
// Passthrough is turned off quietly when the kernel refuses it.
//
// # Errors
//
// Internal functions return Go errors that wrap syscall.Errno values; they
// become a syscall.Errno once, at the FUSE boundary (fs.ToErrno).
package unionfs
