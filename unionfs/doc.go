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
// is layer i+1. Directories take the number of their topmost lower
// directory, or of the upper one if none. A copied-up file keeps the number
// it had: copy-up stores it in the origin xattr.
//
// go-fuse treats a (number, generation) pair as one kernel inode, so the
// generation tells apart inodes that share st_ino: each name of a file
// hard-linked in a lower layer (its generation is hashed from layer, inode
// and path; copy-up splits such links, as kernel overlayfs without
// index=on does), and copied-up files (their generation is the real inode
// number of the upper file, shared by its hard links). A node copied up
// during this mount keeps the identity it was looked up with:
// Union.aliases maps the copied-up identity to it.
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
// keeps one backing file per inode while any passthrough open exists, and
// go-fuse registers it from the first open, so a handle on an upper file
// always holds an O_RDWR descriptor (whatever the caller asked for; the
// kernel still enforces the caller's access mode), and a handle on a lower
// file an O_RDONLY one.
//
// Once a lower file has been handed to the kernel (node.lowerPT), its
// inode may be backed by the lower file for as long as any handle, old or
// new, stays open, and go-fuse drops that backing only after our Release.
// Such a node is never given an upper descriptor: its copy-up retires it
// (node.split) instead, and every later operation on it returns ESTALE.
// The VFS retries opens, truncates and path-based calls once with
// LOOKUP_REVAL; FUSE then looks the name up again and finds the copied-up
// file under a new identity (see "Inode numbers"), a new kernel inode with
// the same st_ino whose backing file is the upper copy. Handles opened
// before keep reading the lower file, as with kernel overlayfs before 4.19.
// Passthrough is turned off quietly when the kernel refuses it.
//
// # Errors
//
// Internal functions return Go errors that wrap syscall.Errno values; they
// become a syscall.Errno once, at the FUSE boundary (errno in up.go).
package unionfs
