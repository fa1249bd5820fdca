package unionfs

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/copyup"
)

var _ = (fs.NodeUnlinker)((*node)(nil))

// Unlink removes a non-directory. A name that a lower layer shows is
// replaced by a whiteout.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return errno(n.remove(ctx, name, false))
}

var _ = (fs.NodeRmdirer)((*node)(nil))

// Rmdir removes a directory that is empty in the union; whiteouts left in
// its upper copy go with it.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return errno(n.remove(ctx, name, true))
}

func (n *node) remove(ctx context.Context, name string, dir bool) (err error) {
	if n.u.upper == "" {
		return syscall.EROFS
	}
	dirRel := n.rel()
	e, err := n.find(dirRel, name)
	if err != nil {
		return err
	}
	switch {
	case dir && !isDir(&e.st):
		return syscall.ENOTDIR
	case !dir && isDir(&e.st):
		return syscall.EISDIR
	}
	// Requests that hold the node's lock (open, setattr, xattrs) see the
	// entry either before the removal or, through setMove, after it.
	ch := n.childNode(name)
	if ch != nil {
		ch.mu.Lock()
		defer ch.mu.Unlock()
	}
	held := -1
	if ch != nil {
		held = ch.holdRemoved(join(dirRel, name), e)
	}
	defer func() {
		if err == nil && ch != nil {
			ch.setMove(&move{from: n.EmbeddedInode(), fromName: name})
			ch.keepGone(e, held)
		} else if held >= 0 {
			unix.Close(held)
		}
	}()
	if dir {
		ch := &node{u: n.u, upper: e.upper, upperXwh: e.upperXwh, lower: e.lower, lowerRel: e.lowerRel, dirs: e.dirs}
		ents, err := ch.listAt(join(dirRel, name))
		if err != nil {
			return err
		}
		if len(ents) > 0 {
			return syscall.ENOTEMPTY
		}
	}
	lowerHas, err := n.lowerHas(dirRel, name)
	if err != nil {
		return err
	}
	if err := n.ensureUpper(ctx); err != nil {
		return err
	}
	upperDir := n.u.upperPath(dirRel)
	if !e.upper {
		return n.u.writer.Whiteout(upperDir, name)
	}
	if lowerHas {
		moved := n.u.tempPath()
		if err := n.u.writer.Replace(upperDir, name, moved); err != nil {
			return err
		}
		return os.RemoveAll(moved)
	}
	p := upperDir + "/" + name
	if !dir {
		return unix.Unlink(p)
	}
	if err := unix.Rmdir(p); err != unix.ENOTEMPTY && err != unix.EEXIST {
		return err
	}
	// Only whiteouts are left inside: move the directory out of sight
	// first so that it vanishes atomically.
	moved := n.u.tempPath()
	if err := unix.Rename(p, moved); err != nil {
		return err
	}
	return os.RemoveAll(moved)
}

// childNode returns the node of name, if the kernel has looked it up.
func (n *node) childNode(name string) *node {
	in := n.GetChild(name)
	if in == nil {
		return nil
	}
	ch, _ := in.Operations().(*node)
	return ch
}

// removedFd is the descriptor kept on the node's file if its entry was
// removed while open (holdRemoved) or was made unnamed (tmpfile.go), else
// -1: attribute changes and reopens of the removed file go to it, as kernel
// overlayfs applies them to its inode. The file is an upper one, or for a
// whited-out lower file, that lower file: callers that change the file
// copy the node up first, which fails for a removed lower entry.
//
// Preconditions: n.mu is held.
func (n *node) removedFd() int {
	if n.gone == nil {
		return -1
	}
	if fd := n.goneFd.Load(); fd > 0 {
		return int(fd)
	}
	return -1
}

// procFd is the path of descriptor fd in /proc/self/fd: the calls that
// follow it reach the file fd is open on, even once it has no name.
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// keepGone gives a node whose entry e was just removed the attributes the
// entry had, with the link count it has now. The kernel may keep the entry
// open where this daemon holds no handle (a fifo, a device, a directory),
// and fstat on that descriptor then asks Getattr about a name that no
// longer exists. A removed upper entry has one link fewer (none for a
// directory); a whited-out lower entry still exists, unchanged, in its
// layer.
//
// held is a descriptor from holdRemoved, or -1.
//
// Preconditions: n.mu is held.
func (n *node) keepGone(e *entry, held int) {
	st := e.st
	if e.upper {
		if isDir(&st) || st.Nlink <= 1 {
			st.Nlink = 0
		} else {
			st.Nlink--
		}
	}
	n.gone = &st
	if held >= 0 {
		if old := n.goneFd.Swap(int32(held)); old > 0 {
			unix.Close(int(old))
		}
	}
}

// orphaned reports whether the node's entry was removed while open and
// has no name left in any layer (a file removed under one of its names
// keeps the others).
//
// Preconditions: n.mu is held.
func (n *node) orphaned() bool { return n.gone != nil && n.gone.Nlink == 0 }

// changeGone applies a setattr to the attributes a removed upper entry
// left (n.gone) when no descriptor was kept on it: a directory, fifo or
// device removed while open, or a file held only by an O_PATH descriptor.
// The entry has no name in any layer any more; the kernel's descriptors on
// it are all that can see it, and fstat on them reports n.gone, which thus
// shows the change as the removed inode would on kernel overlayfs.
//
// Preconditions: n.mu is held; n.orphaned().
func (n *node) changeGone(in *fuse.SetAttrIn) {
	st := n.gone
	now := unix.NsecToTimespec(time.Now().UnixNano())
	if mode, ok := in.GetMode(); ok {
		st.Mode = st.Mode&unix.S_IFMT | mode&07777
	}
	if uid, ok := in.GetUID(); ok {
		st.Uid = n.u.opts.uidMap.ToHost(uid)
	}
	if gid, ok := in.GetGID(); ok {
		st.Gid = n.u.opts.gidMap.ToHost(gid)
	}
	if size, ok := in.GetSize(); ok {
		st.Size = int64(size)
		st.Mtim = now
	}
	switch {
	case in.Valid&fuse.FATTR_ATIME_NOW != 0:
		st.Atim = now
	case in.Valid&fuse.FATTR_ATIME != 0:
		st.Atim = unix.Timespec{Sec: int64(in.Atime), Nsec: int64(in.Atimensec)}
	}
	switch {
	case in.Valid&fuse.FATTR_MTIME_NOW != 0:
		st.Mtim = now
	case in.Valid&fuse.FATTR_MTIME != 0:
		st.Mtim = unix.Timespec{Sec: int64(in.Mtime), Nsec: int64(in.Mtimensec)}
	}
	st.Ctim = now
}

// holdRemoved opens, before its removal, the regular file e at rel if
// this node copied it up during this mount or it is open, and returns the
// descriptor (-1 if none): the upper file, or the lower file a whiteout
// is about to hide. A handle opened on the lower file before the copy-up
// has not switched to the copy yet, and after the removal has no path to
// it: through goneFd it reads the removed copy and fstat reports it, as on
// kernel overlayfs. And fchmod, fchown, futimens, the xattr calls and
// reopens through /proc/self/fd of a removed file reach the daemon without
// a handle, for a name that is gone (removedFd). Only such nodes pay for
// the open.
//
// Preconditions: n.mu is held.
func (n *node) holdRemoved(rel string, e *entry) int {
	if e.st.Mode&unix.S_IFMT != unix.S_IFREG || !n.copied.Load() && n.opens.Load() == 0 {
		return -1
	}
	var fd int
	var err error
	if e.upper {
		fd, err = unix.Open(n.u.upperPath(rel), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	} else {
		fd, err = copyup.OpenLayerFile(n.u.lowerPath(e.lower, e.lowerRel), unix.O_RDONLY|unix.O_NOFOLLOW)
	}
	if err != nil {
		return -1
	}
	return fd
}
