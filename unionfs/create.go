package unionfs

import (
	"context"
	"fmt"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
)

// errReservedName refuses a new entry whose name starts with ".wh.": every
// layer, the upper included, reads such a name as an OCI whiteout marker
// (whiteout.IsMarkerName), so the union cannot hold an entry of that name;
// written to the upper, it would hide the lower entry it names. As in
// fuse-overlayfs, which reads its upper the same way (kernel overlayfs,
// whose own whiteouts are devices, allows the names).
var errReservedName = fmt.Errorf("names starting with .wh. mark whiteouts: %w", syscall.EINVAL)

// checkNewName refuses a name the union cannot hold (errReservedName).
func checkNewName(name string) error {
	if whiteout.IsMarkerName(name) {
		return errReservedName
	}
	return nil
}

// makeEntry creates name in this directory through mk, as the caller, and
// returns the new inode and the descriptor mk opened (-1 if none).
// Directories created over a whiteout are opaque.
func (n *node) makeEntry(ctx context.Context, name string, mode uint32, out *fuse.EntryOut,
	mk func(path string, mode uint32) (int, error)) (*fs.Inode, int, error) {
	newFd := -1
	if err := checkNewName(name); err != nil {
		return nil, -1, err
	}
	if err := n.ensureUpper(ctx); err != nil {
		return nil, -1, err
	}
	dirRel := n.rel()
	dir := n.u.upperPath(dirRel)
	uid, gid, setgid := n.u.owner(ctx, dir)
	typ := mode & unix.S_IFMT
	if typ == unix.S_IFDIR && setgid {
		mode |= unix.S_ISGID
	}
	opaque := typ == unix.S_IFDIR && upperWhitedOut(dir, name)
	path, err := n.u.publish(dir, name, func(p string) error {
		fd, err := mk(p, mode)
		if err != nil {
			return err
		}
		newFd = fd
		if err := chownNew(p, uid, gid, mode, typ == unix.S_IFLNK); err != nil {
			return err
		}
		if opaque {
			return n.u.writer.SetOpaque(p)
		}
		return nil
	})
	if err != nil {
		if newFd >= 0 {
			unix.Close(newFd)
		}
		return nil, -1, err
	}
	e := &entry{upper: true, lower: -1, layer: 0, fresh: true}
	if newFd >= 0 {
		err = unix.Fstat(newFd, &e.st)
	} else {
		err = unix.Lstat(path, &e.st)
	}
	if err != nil {
		if newFd >= 0 {
			unix.Close(newFd)
		}
		return nil, -1, err
	}
	return n.newChild(ctx, join(dirRel, name), e, out), newFd, nil
}

var _ = (fs.NodeCreater)((*node)(nil))

// Create makes and opens a regular file.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	oflags := n.u.createFlags(flags, unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC|unix.O_NOFOLLOW)
	in, fd, err := n.makeEntry(ctx, name, mode&07777|unix.S_IFREG, out, func(p string, m uint32) (int, error) {
		return unix.Open(p, oflags, m&07777)
	})
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	ch := in.Operations().(*node)
	return in, n.u.newFile(ch, fd, true, n.u.passthroughWanted()), fuse.FOPEN_KEEP_CACHE, 0
}

// createFlags are the flags to open a file the caller creates with: the
// caller's, without those the kernel applies itself (O_APPEND: it places
// appends; O_DIRECT; O_NOCTTY), plus add, and read-write when passthrough
// is wanted (see "Passthrough" in the package doc).
func (u *Union) createFlags(flags uint32, add int) int {
	oflags := int(flags)&^(unix.O_APPEND|unix.O_DIRECT|unix.O_NOCTTY) | add
	if u.passthroughWanted() {
		oflags = oflags&^unix.O_ACCMODE | unix.O_RDWR
	}
	return oflags
}

var _ = (fs.NodeMkdirer)((*node)(nil))

// Mkdir makes a directory; over a whiteout it is opaque.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	in, _, err := n.makeEntry(ctx, name, mode&07777|unix.S_IFDIR, out, func(p string, m uint32) (int, error) {
		return -1, unix.Mkdir(p, m&07777)
	})
	return in, errno(err)
}

var _ = (fs.NodeMknoder)((*node)(nil))

// Mknod makes a device, fifo or socket.
func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	in, _, err := n.makeEntry(ctx, name, mode, out, func(p string, m uint32) (int, error) {
		return -1, unix.Mknod(p, m, int(dev))
	})
	return in, errno(err)
}

var _ = (fs.NodeSymlinker)((*node)(nil))

// Symlink makes a symbolic link.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	in, _, err := n.makeEntry(ctx, name, unix.S_IFLNK|0777, out, func(p string, m uint32) (int, error) {
		return -1, unix.Symlink(target, p)
	})
	return in, errno(err)
}

var _ = (fs.NodeLinker)((*node)(nil))

// Link makes a hard link, copying the target up first.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	if err := checkNewName(name); err != nil {
		return nil, errno(err)
	}
	if err := t.ensureUpper(ctx); err != nil {
		return nil, errno(err)
	}
	if err := n.ensureUpper(ctx); err != nil {
		return nil, errno(err)
	}
	dirRel := n.rel()
	t.mu.Lock() // against a rename or remove of the target (pending.go)
	src, follow := n.u.upperPath(t.rel()), 0
	if fd := t.removedFd(); fd >= 0 {
		// An O_TMPFILE file (tmpfile.go), or a file removed while open
		// that still has another name: the descriptor reaches it.
		src, follow = procFd(fd), unix.AT_SYMLINK_FOLLOW
	}
	path, err := n.u.publish(n.u.upperPath(dirRel), name, func(p string) error {
		return unix.Linkat(unix.AT_FDCWD, src, unix.AT_FDCWD, p, follow)
	})
	t.mu.Unlock()
	if err != nil {
		return nil, errno(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, errno(err)
	}
	// The new name is the same file: the same inode, not a new lookup.
	n.u.fillAttr(&st, &out.Attr, &entry{upper: true})
	out.Attr.Ino = t.StableAttr().Ino
	return t.EmbeddedInode(), 0
}
