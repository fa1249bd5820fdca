package unionfs

import (
	"context"
	"errors"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
)

// changed lists the attributes a setattr request changes.
const changed = fuse.FATTR_MODE | fuse.FATTR_UID | fuse.FATTR_GID | fuse.FATTR_SIZE |
	fuse.FATTR_ATIME | fuse.FATTR_MTIME | fuse.FATTR_ATIME_NOW | fuse.FATTR_MTIME_NOW

var _ = (fs.NodeSetattrer)((*node)(nil))

// Setattr changes owner, mode, size or times, copying the entry up first.
// A request that changes none of them is chown(path, -1, -1), which
// changes the file's ctime; as on kernel overlayfs, it copies the entry
// up and changes the ctime of the copy.
func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if err := n.setattr(ctx, fh, in); err != nil {
		return errno(err)
	}
	// A node this setattr retired answers from its upper copy (realPath).
	if errno := n.Getattr(ctx, fh, out); errno != 0 {
		return errno
	}
	// go-fuse completes GETATTR replies only: it sets the node's st_ino
	// (the kernel takes the inode number from every attribute reply) and
	// the attribute timeout (without which the kernel would forget this
	// reply and ask again).
	out.Ino = n.StableAttr().Ino
	out.SetTimeout(n.u.opts.timeout)
	return 0
}

func (n *node) setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn) error {
	size, hasSize := in.GetSize()
	limit := int64(-1)
	if hasSize {
		limit = int64(size)
	}
	retiredAt, err := n.ensureUpperForChange(ctx, limit)
	if err != nil {
		return err
	}
	n.mu.Lock() // against a rename or remove of the entry (pending.go)
	defer n.mu.Unlock()
	if retiredAt == "" && n.removedFd() < 0 && n.orphaned() {
		n.changeGone(in)
		return nil
	}
	p, follow := n.changePath(retiredAt)
	uid, hasUID := in.GetUID()
	gid, hasGID := in.GetGID()
	if hasUID || hasGID || in.Valid&changed == 0 {
		u, g := -1, -1
		if hasUID {
			u = int(n.u.opts.uidMap.ToHost(uid))
		}
		if hasGID {
			g = int(n.u.opts.gidMap.ToHost(gid))
		}
		chown := unix.Lchown
		if follow {
			chown = unix.Chown
		}
		if err := chown(p, u, g); err != nil {
			return err
		}
	}
	if mode, ok := in.GetMode(); ok {
		if err := unix.Chmod(p, mode&07777); err != nil {
			return err
		}
	}
	if hasSize {
		var err error = unix.EBADF
		if f := asFile(fh); f != nil && f.writable {
			err = unix.Ftruncate(f.fd, int64(size)) // works on unlinked files too
		}
		if err == unix.EBADF || err == unix.EINVAL {
			err = unix.Truncate(p, int64(size))
		}
		if err != nil {
			return err
		}
		if in.Valid&fuse.FATTR_KILL_SUIDGID != 0 && !hasUID && !hasGID {
			if err := killSUIDGID(p, follow); err != nil {
				return err
			}
		}
	}
	return setTimes(p, in, follow)
}

// setTimes applies atime and mtime, including "now", following a symlink
// at p only if follow is set.
func setTimes(p string, in *fuse.SetAttrIn, follow bool) error {
	if in.Valid&(fuse.FATTR_ATIME|fuse.FATTR_MTIME|fuse.FATTR_ATIME_NOW|fuse.FATTR_MTIME_NOW) == 0 {
		return nil
	}
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
	set := func(i int, valid, now uint32, t time.Time) {
		switch {
		case in.Valid&now != 0:
			ts[i] = unix.Timespec{Nsec: unix.UTIME_NOW}
		case in.Valid&valid != 0:
			ts[i] = unix.NsecToTimespec(t.UnixNano())
		}
	}
	set(0, fuse.FATTR_ATIME, fuse.FATTR_ATIME_NOW, time.Unix(int64(in.Atime), int64(in.Atimensec)))
	set(1, fuse.FATTR_MTIME, fuse.FATTR_MTIME_NOW, time.Unix(int64(in.Mtime), int64(in.Mtimensec)))
	flags := unix.AT_SYMLINK_NOFOLLOW
	if follow {
		flags = 0
	}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, flags)
}

var _ = (fs.NodeGetxattrer)((*node)(nil))

// Getxattr reads an xattr of the topmost entry; private ones do not exist.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if whiteout.IsPrivateXattr(attr) {
		return 0, syscall.ENODATA
	}
	p, follow, err := n.xattrPath()
	if errors.Is(err, errNoXattrs) {
		return 0, syscall.ENODATA
	}
	if err != nil {
		return 0, errno(err)
	}
	getxattr := unix.Lgetxattr
	if follow {
		getxattr = unix.Getxattr
	}
	k, err := getxattr(p, attr, dest)
	if err == nil && len(dest) > 0 {
		err = n.u.showACL(attr, dest[:k])
	}
	if err != nil {
		return 0, errno(err)
	}
	return uint32(k), 0
}

var _ = (fs.NodeListxattrer)((*node)(nil))

// Listxattr lists the topmost entry's xattrs without the private ones.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	p, follow, err := n.xattrPath()
	if errors.Is(err, errNoXattrs) {
		return 0, 0
	}
	if err != nil {
		return 0, errno(err)
	}
	listxattr := unix.Llistxattr
	if follow {
		listxattr = unix.Listxattr
	}
	sz, err := listxattr(p, nil)
	if err != nil {
		return 0, errno(err)
	}
	buf := make([]byte, sz+256)
	sz, err = listxattr(p, buf)
	if err != nil {
		return 0, errno(err)
	}
	var out []byte
	start := 0
	for i := 0; i < sz; i++ {
		if buf[i] != 0 {
			continue
		}
		if name := string(buf[start:i]); name != "" && !whiteout.IsPrivateXattr(name) {
			out = append(out, buf[start:i+1]...)
		}
		start = i + 1
	}
	if len(dest) == 0 {
		return uint32(len(out)), 0
	}
	if len(out) > len(dest) {
		return uint32(len(out)), syscall.ERANGE
	}
	return uint32(copy(dest, out)), 0
}

var _ = (fs.NodeSetxattrer)((*node)(nil))

// Setxattr sets an xattr after copy-up; private names are refused.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if whiteout.IsPrivateXattr(attr) {
		return syscall.EOPNOTSUPP
	}
	data, err := n.u.storeACL(attr, data)
	if err != nil {
		return syscall.EINVAL
	}
	retiredAt, err := n.ensureUpperForChange(ctx, -1)
	if err != nil {
		return errno(err)
	}
	n.mu.Lock() // against a rename or remove of the entry (pending.go)
	defer n.mu.Unlock()
	p, follow := n.changePath(retiredAt)
	setxattr := unix.Lsetxattr
	if follow {
		setxattr = unix.Setxattr
	}
	return errno(setxattr(p, attr, data, int(flags)))
}

var _ = (fs.NodeRemovexattrer)((*node)(nil))

// Removexattr removes an xattr after copy-up.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if whiteout.IsPrivateXattr(attr) {
		return syscall.ENODATA
	}
	if up, _ := n.state(); !up {
		// Nothing to remove means no need to copy up. (An upper entry
		// asks its file system, which answers a missing POSIX ACL
		// with success, not ENODATA: tar --acls removes default ACLs
		// it has none of.)
		if _, e := n.Getxattr(ctx, attr, nil); e != 0 {
			return e
		}
	}
	retiredAt, err := n.ensureUpperForChange(ctx, -1)
	if err != nil {
		return errno(err)
	}
	n.mu.Lock() // against a rename or remove of the entry (pending.go)
	defer n.mu.Unlock()
	p, follow := n.changePath(retiredAt)
	removexattr := unix.Lremovexattr
	if follow {
		removexattr = unix.Removexattr
	}
	return errno(removexattr(p, attr))
}

// changePath is where a change to the entry goes once
// ensureUpperForChange has returned retiredAt: there, if set (not
// followed); else, for an entry removed while open, its file through the
// descriptor kept on it (followed); else the entry's upper path.
//
// Preconditions: n.mu is held.
func (n *node) changePath(retiredAt string) (p string, follow bool) {
	if retiredAt != "" {
		return retiredAt, false
	}
	if fd := n.removedFd(); fd >= 0 {
		return procFd(fd), true
	}
	return n.u.upperPath(n.rel()), false
}
