package unionfs

import (
	"context"
	"os"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
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
		held = ch.holdRemoved(n.u.upperPath(join(dirRel, name)), e)
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
		ch := &node{u: n.u, upper: e.upper, upperXwh: e.upperXwh, lower: e.lower, dirs: e.dirs}
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

// removedCopy is the descriptor of the node's upper copy if the entry was
// removed while open (holdRemoved), else -1: attribute changes of the
// removed file go to it, as kernel overlayfs applies them to its upper
// inode.
//
// Preconditions: n.mu is held.
func (n *node) removedCopy() int {
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

// holdRemoved opens, before its removal, the upper copy p of a regular
// file e that this node copied up during this mount or that is open, and
// returns the descriptor (-1 if none). A handle opened on the lower file
// before the copy-up has not switched to the copy yet, and after the
// removal has no path to it: through goneFd it reads the removed copy and
// fstat reports it, as on kernel overlayfs. And fchmod, fchown, futimens
// and the xattr calls on a descriptor of a removed file reach the daemon
// without a handle (removedCopy). Only such nodes pay for the open.
//
// Preconditions: n.mu is held.
func (n *node) holdRemoved(p string, e *entry) int {
	if !e.upper || e.st.Mode&unix.S_IFMT != unix.S_IFREG || !n.copied.Load() && n.opens.Load() == 0 {
		return -1
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1
	}
	return fd
}
