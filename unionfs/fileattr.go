package unionfs

import (
	"context"
	"syscall"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// File attributes (chattr, lsattr, xfs_io's chattr). The kernel serves
// FS_IOC_GETFLAGS and FS_IOC_SETFLAGS (a 4-byte flags word) and
// FS_IOC_FSGETXATTR and FS_IOC_FSSETXATTR (struct fsxattr) on a FUSE file
// by sending them to the daemon as IOCTL, after it has checked the
// caller's right to change them (ownership; CAP_LINUX_IMMUTABLE for
// immutable and append-only); setting flags reads the fsxattr first. The
// union reads the attributes of the topmost copy and sets them on the
// upper copy, copying the entry up first, as kernel overlayfs and
// fuse-overlayfs do; the upper filesystem then enforces them, for the
// daemon too. Every other ioctl is ENOTTY, so a program asking whether a
// file is a terminal gets its answer.

// fsxattr ioctls (linux/fs.h): _IOR and _IOW('X', 31 and 32, struct
// fsxattr), which golang.org/x/sys/unix does not define.
const (
	fsIocFsgetxattr = 0x801c581f
	fsIocFssetxattr = 0x401c5820
	fsxattrSize     = 28
)

var _ = (fs.NodeIoctler)((*node)(nil))

// Ioctl serves the file attribute ioctls.
func (n *node) Ioctl(ctx context.Context, f fs.FileHandle, cmd uint32, arg uint64, input []byte, output []byte) (int32, syscall.Errno) {
	var size int
	switch cmd {
	case unix.FS_IOC_GETFLAGS, unix.FS_IOC_SETFLAGS:
		size = 4
	case fsIocFsgetxattr, fsIocFssetxattr:
		size = fsxattrSize
	default:
		return 0, syscall.ENOTTY
	}
	if cmd == unix.FS_IOC_GETFLAGS || cmd == fsIocFsgetxattr {
		if len(output) < size {
			return 0, syscall.EINVAL
		}
		p, err := n.realPath()
		if err != nil {
			return 0, errno(err)
		}
		return 0, errno(fileAttrIoctl(p, cmd, output[:size]))
	}
	if len(input) < size {
		return 0, syscall.EINVAL
	}
	if n.u.upper == "" {
		return 0, syscall.EROFS
	}
	n.mu.Lock() // against a rename or remove of the entry (pending.go)
	defer n.mu.Unlock()
	if n.split {
		return 0, syscall.ESTALE
	}
	// A copy-up here may retire the node (the kernel passed its lower
	// file through, as it does for the descriptor chattr holds): the
	// kernel does not repeat an ioctl that got ESTALE, so the flags go on
	// the upper copy, which is at the node's path until the lock is let
	// go, all the same.
	if err := n.ensureUpperLocked(ctx, -1); err != nil {
		return 0, errno(err)
	}
	return 0, errno(fileAttrIoctl(n.u.upperPath(n.rel()), cmd, input[:size]))
}

// fileAttrIoctl runs a file attribute ioctl on the file at p, reading or
// writing buf. It opens p without following a symlink and without
// blocking on a device.
func fileAttrIoctl(p string, cmd uint32, buf []byte) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(cmd), uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		return e
	}
	return nil
}
