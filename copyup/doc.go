// Package copyup copies one entry of a read-only lower layer into the
// writable upper layer, atomically.
//
// # Model
//
// A union mount shows the upper directory over one or more lower
// directories. Lower directories are never written. The first time a lower
// entry is modified (write, truncate, chmod, chown, utimes, setxattr, link)
// the union "copies it up": it makes a copy of the entry in the upper
// directory and from then on works on the copy. copyup owns exactly that copy
// and nothing else. The union decides when to copy up, copies up parent
// directories first (by calling [Copier.Copy] on each missing parent, which
// creates an empty directory with the parent's metadata), and serialises
// copy-ups of the same path.
//
// Vocabulary:
//
//   - source: the lower entry, an absolute path that is not followed if it is
//     a symlink. It is assumed immutable while it is copied.
//   - destination: the absolute path in the upper layer. Its parent exists;
//     its name does not.
//   - work directory: <workdir>/work, a private directory on the same
//     filesystem as the upper layer. copyup owns it entirely.
//   - temp entry (staged entry): the copy while it is being built: for a
//     regular file an unnamed file made in the work directory (O_TMPFILE),
//     for the other types (or where O_TMPFILE is refused) a name inside it.
//   - publish: the link(2) of the unnamed file, or the rename of the named
//     entry, that gives the finished temp entry the destination's name.
//
// # What is written to disk
//
// copyup writes only inside the work directory and at the destination.
// [Clean] creates <workdir>/work with mode 0700 when it is missing. Each copy
// in progress owns one temp entry there. A regular file is an O_TMPFILE made
// in the work directory, as kernel overlayfs stages its copy-ups: it has no
// name until it is published, so no reader of any directory sees it and
// nothing is left to clean when the copy dies. If the filesystem refuses
// O_TMPFILE (EOPNOTSUPP; EISDIR from a kernel without it), or /proc/self/fd
// is not there to link it through, the Copier stops asking and, like every
// other type, the temp entry gets a name, "#lamina-<pid>-<seq>": <pid>
// is the decimal process id and <seq> a decimal counter unique within the
// process. The name is created with O_EXCL (or mkdir, mknod, symlink, which
// fail on an existing name); on EEXIST the next counter value is tried. The
// temp entry has the source's type and content:
//
//   - regular file: created 0600; its bytes are the source's bytes, with the
//     source's holes left as holes where the filesystem reports them
//     (SEEK_DATA/SEEK_HOLE) or where the clone keeps them; its size is the
//     source's size.
//   - directory: created empty, 0700. Its contents are never copied.
//   - symlink: the source's target, byte for byte.
//   - fifo, socket, character or block device: mknod with the source's type
//     and st_rdev.
//
// Then, in this order (on the open fd for a regular file, which spares a
// path walk per call; on the path, not followed, for the other types):
//
//  1. owner and group (lchown);
//  2. permission bits including setuid, setgid and sticky (chmod; after
//     chown, because chown clears setuid/setgid and security.capability; not
//     for symlinks, whose mode cannot change);
//  3. the source's extended attributes that the filter keeps;
//  4. the extra attributes: the option's, then the call's, which win on a
//     name clash;
//  5. atime and mtime with nanoseconds (utimensat, last, because the steps
//     before may touch them);
//  6. unless [NoSync] is given, fsync of a regular file;
//  7. publish: an unnamed file is linked to the destination with linkat(2)
//     of its /proc/self/fd entry, following it (AT_EMPTY_PATH would need
//     CAP_DAC_READ_SEARCH), which fails on an existing name; a named entry
//     is renamed there with RENAME_NOREPLACE, after which the temp name no
//     longer exists. If the link fails for another reason (the kernel's
//     hard link protection, an odd /proc), the copy is made again under a
//     name.
//
// No marker, journal or metadata file of copyup's own is ever written. The
// "origin" marker a union may want on the copy is its own xattr, passed as an
// extra attribute.
//
// # Crash safety
//
// The destination name is only ever created by one link(2) or rename(2) of a
// temp entry that is already complete: data, size, owner, mode, xattrs and
// times are all in place before it. Both are atomic with respect to every
// other process and to the death of this one: after a kill -9 at any
// instruction, the destination either does not exist or names the complete
// copy. An unnamed temp file dies with the process (the kernel frees it with
// its last descriptor; after a power loss the filesystem's orphan handling
// does). What a crash can leave is a named temp entry in the work directory,
// which no reader of the union ever looks at and which [Clean] removes at
// the next mount.
//
// Against power loss the argument needs the data on disk before the name
// is: so a regular file is fsynced before it is published (fsync also makes
// its metadata and xattrs durable), as kernel overlayfs fsyncs the data it
// copies. The other types are not: a directory is created empty, and the
// whole content of a directory, symlink, fifo, socket or device is inode
// metadata, which the journaling filesystems that can hold an upper layer
// (ext4, xfs, btrfs) commit in order, so the rename cannot become durable
// before the metadata it depends on. With [NoSync] the
// kill -9 argument still holds (the page cache belongs to the kernel, not to
// the process), but after a power loss a published file may be missing data.
//
// The link or rename itself is not fsynced (the destination's parent
// directory is not fsynced), as in kernel overlayfs: after a power loss the
// copy-up may be undone, and the lower entry shows through again, never a
// torn copy. A caller that needs the copy-up durable fsyncs the
// destination's parent.
//
// If the filesystem does not support RENAME_NOREPLACE (EINVAL), a named
// non-directory is published with link(2), which also fails on an existing
// name, and the temp name is then unlinked; a crash between the two leaves
// a second name in the work directory that [Clean] removes.
//
// A directory whose mode has no owner-write bit cannot be renamed into
// another directory without CAP_DAC_OVERRIDE (rename rewrites its ".."). If
// the rename fails with EACCES for that reason, the temp directory is given
// u+w, renamed, and then given its final mode. A crash in that window leaves
// an empty directory whose only difference from the source is the u+w bit.
//
// # Data copy
//
// [CopyData] tries, in order: the FICLONE ioctl (a reflink that shares
// extents, on btrfs and xfs; one call for the whole file, keeps holes);
// copy_file_range(2) per data extent; a pread/pwrite loop per data extent
// with a pooled 1 MiB buffer. A method is abandoned only for the errors that
// mean "not supported here" (FICLONE: EOPNOTSUPP, EXDEV, EINVAL, ENOTTY;
// copy_file_range: EXDEV, ENOSYS, EOPNOTSUPP, EINVAL); any other error fails
// the copy. Data extents are found with lseek SEEK_DATA/SEEK_HOLE and only
// they are copied; if the data ends before the wanted size, the file is then
// ftruncated to it, so holes in the middle and at the end stay holes. When
// at most 4 KiB are wanted and the source's st_blocks covers them, they are
// copied as one extent without the lseeks (at worst, when the blocks lie
// beyond the end or hold ext4 xattrs, up to 4 KiB of hole become zeros,
// which changes no byte). The context is checked before
// every 8 MiB chunk; FICLONE is a single call and cannot be interrupted.
//
// What a copy-up does beyond CopyData, for speed only (none of it changes
// the bytes copied or the guarantees above):
//
//   - The temp file is new, hence empty, so it is not truncated first: on
//     ext4 truncating a file to zero arms a flush of all its pages at close
//     (auto_da_alloc), which costs a third of a 1 GiB copy-up.
//   - A Copier remembers, per source filesystem (st_dev), a FICLONE refused
//     with EOPNOTSUPP, EXDEV or ENOTTY and a copy_file_range refused with
//     EXDEV, ENOSYS or EOPNOTSUPP, and does not try that method again for
//     sources there: these errnos speak of the filesystems, not the file
//     (EINVAL can be about the file, and is not remembered). A stale entry
//     only makes a later copy use a slower method.
//   - A source of 8 MiB or more is read with POSIX_FADV_SEQUENTIAL.
//   - Unless [NoSync] is given, writeback of each full 8 MiB chunk is
//     started (sync_file_range SYNC_FILE_RANGE_WRITE) once it is copied, so
//     that the disk writes while the next chunks are read; the fsync before
//     publishing still waits for all of it and reports any error.
//   - The early check that the destination does not exist (an lstat) is
//     made only for regular files of 8 MiB or more, where it saves copying
//     data only to fail at the end; RENAME_NOREPLACE makes the check for
//     everything.
//
// # Errors
//
// Errors read "verb noun: cause". A destination that already exists yields an
// error matching both [ErrExists] and [io/fs.ErrExist]. An unknown file type
// matches [errors.ErrUnsupported]. Cancellation returns an error matching
// ctx.Err(). On every error the temp entry is removed before Copy returns.
//
// Failures that are tolerated, because a rootless daemon cannot avoid them:
// lchown failing with EPERM or EINVAL (an unmapped id) unless
// [WithStrictOwner]; setting a source xattr in the security.* or trusted.*
// namespace failing with EPERM or EOPNOTSUPP. Extra xattrs are the caller's
// explicit request and their failure is always an error.
//
// # Concurrency
//
// A Copier's settings are immutable after [New]; what it learns (the copy
// methods a source filesystem refused, whether the work directory takes
// O_TMPFILE) is kept in sync.Maps and an atomic flag. It may be used by any
// number of goroutines at once for different destinations: temp names come
// from a process-wide atomic counter. Two copies to the same destination at
// once are the caller's bug; linkat and RENAME_NOREPLACE make the second one
// fail with [ErrExists] instead of replacing the first. [Clean] must not run while
// copies are in progress (it is meant for mount time).
//
// # Invariants
//
//   - Nothing outside <workdir>/work and the destination is ever created,
//     changed or removed. The source is opened read-only (O_NOATIME when
//     permitted, so even its atime stays).
//   - The destination is never replaced and never visible incomplete.
//   - Hard links of the source are not preserved: the copy has one link, as
//     with kernel overlayfs without index=on.
//   - No logging; every problem is returned.
package copyup
