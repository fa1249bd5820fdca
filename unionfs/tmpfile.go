package unionfs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

var _ = (fs.NodeTmpfiler)((*node)(nil))

// Tmpfile makes and opens an unnamed regular file in this directory, as
// open(2) with O_TMPFILE does: an O_TMPFILE file in the directory's upper
// copy, which is copied up first, as on kernel overlayfs. The new node is
// born removed: node.gone holds its attributes and node.goneFd a
// descriptor on it (removedFd), through which the requests that name
// the node rather than a handle reach it: fchmod, fchown, futimens, the
// f*xattr calls, a reopen through /proc/self/fd, and linkat, which gives
// the file a name (Link).
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	in, fh, err := n.tmpfile(ctx, flags, mode, out)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	return in, fh, fuse.FOPEN_KEEP_CACHE, 0
}

func (n *node) tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, error) {
	if err := n.ensureUpper(ctx); err != nil {
		return nil, nil, err
	}
	dirRel := n.rel()
	dir := n.u.upperPath(dirRel)
	oflags := n.u.createFlags(flags&^unix.O_CREAT, unix.O_TMPFILE|unix.O_CLOEXEC)
	fd, err := unix.Open(dir, oflags, mode&07777)
	if err != nil {
		return nil, nil, err
	}
	held, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3) // never 0: goneFd's "none"
	if err != nil {
		unix.Close(fd)
		return nil, nil, err
	}
	e := &entry{upper: true, lower: -1, layer: 0, fresh: true}
	uid, gid, _ := n.u.owner(ctx, dir)
	err = fixOwner(fd, "", uid, gid, mode&07777, false)
	if err == nil {
		err = unix.Fstat(fd, &e.st)
	}
	if err != nil {
		unix.Close(fd)
		unix.Close(held)
		return nil, nil, err
	}
	// The name only matters to inode numbers hashed from a path (ino.go);
	// no entry has it.
	in := n.newChild(ctx, join(dirRel, ".lamina-tmpfile"), e, out)
	ch := in.Operations().(*node)
	ch.mu.Lock()
	ch.keepGone(e, held) // a new upper file: no links left
	ch.mu.Unlock()
	return in, n.u.newFile(ch, fd, true, n.u.passthroughWanted()), nil
}
