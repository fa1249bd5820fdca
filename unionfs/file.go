package unionfs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

var _ = (fs.NodeOpener)((*node)(nil))

// Open opens the topmost file; a write-open copies it up first.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	write := flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	if write {
		if n.u.upper == "" {
			return nil, 0, syscall.EROFS
		}
		n.mu.Lock()
		busy := n.ptLower > 0
		n.mu.Unlock()
		if busy {
			return nil, 0, syscall.EBUSY // see "Passthrough" in the package doc
		}
		if err := n.ensureUpper(ctx); err != nil {
			return nil, 0, errno(err)
		}
	}
	n.mu.Lock()
	upper, lower := n.upper, n.lower
	n.mu.Unlock()
	rel := n.rel()
	oflags := int(flags)&^(unix.O_CREAT|unix.O_EXCL|unix.O_NOCTTY|unix.O_APPEND|unix.O_DIRECT) | unix.O_CLOEXEC | unix.O_NOFOLLOW
	var fd int
	var err error
	if upper {
		p := n.u.upperPath(rel)
		fd, err = -1, unix.EACCES
		if n.u.passthroughWanted() {
			fd, err = unix.Open(p, oflags&^unix.O_ACCMODE|unix.O_RDWR, 0)
		}
		if err != nil {
			fd, err = unix.Open(p, oflags, 0)
		}
		if err == nil && fd >= 0 {
			return n.u.newFile(n, fd, true), fuse.FOPEN_KEEP_CACHE, 0
		}
	} else {
		fd, err = unix.Open(n.u.lowerPath(lower, rel), oflags, 0)
	}
	if err != nil {
		return nil, 0, errno(err)
	}
	return n.u.newFile(n, fd, false), fuse.FOPEN_KEEP_CACHE, 0
}

// passthroughWanted reports whether handles should offer passthrough.
func (u *Union) passthroughWanted() bool { return u.opts.passthrough != PassthroughOff }

// newFile wraps fd in a handle; with passthrough it offers the fd to the
// kernel. A handle on an upper file holds an O_RDWR descriptor when it can
// (see "Passthrough" in the package doc).
func (u *Union) newFile(n *node, fd int, upper bool) fs.FileHandle {
	f := &file{n: n, fd: fd, writable: upper}
	if !u.passthroughWanted() {
		return f
	}
	if upper {
		if acc, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err != nil || acc&unix.O_ACCMODE != unix.O_RDWR {
			return f
		}
	} else {
		n.mu.Lock()
		n.ptLower++
		n.mu.Unlock()
		f.ptLower = true
	}
	return &ptFile{file: f}
}

// file is an open file: a descriptor on the layer file. Reads and writes
// go straight to it; no lock is taken on the data path.
type file struct {
	n        *node
	fd       int
	writable bool // the descriptor is on the upper file
	ptLower  bool // counted in n.ptLower
}

// asFile unwraps a handle of this package.
func asFile(fh fs.FileHandle) *file {
	switch f := fh.(type) {
	case *file:
		return f
	case *ptFile:
		return f.file
	}
	return nil
}

// ptFile is a file the kernel may pass through.
type ptFile struct{ *file }

var _ = (fs.FilePassthroughFder)((*ptFile)(nil))

// PassthroughFd offers the descriptor as the backing file.
func (f *ptFile) PassthroughFd() (int, bool) { return f.fd, true }

var (
	_ = (fs.FileReader)((*file)(nil))
	_ = (fs.FileWriter)((*file)(nil))
	_ = (fs.FileFsyncer)((*file)(nil))
	_ = (fs.FileFlusher)((*file)(nil))
	_ = (fs.FileReleaser)((*file)(nil))
	_ = (fs.FileGetattrer)((*file)(nil))
	_ = (fs.FileAllocater)((*file)(nil))
	_ = (fs.FileLseeker)((*file)(nil))
)

// Read splices from the layer file.
func (f *file) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return fuse.ReadResultFd(uintptr(f.fd), off, len(dest)), 0
}

// Write writes at off; the kernel has applied O_APPEND already.
func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !f.writable {
		return 0, syscall.EBADF
	}
	k, err := unix.Pwrite(f.fd, data, off)
	return uint32(max(k, 0)), errno(err)
}

// Fsync syncs data, and metadata unless only datasync is asked.
func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if flags&1 != 0 { // FUSE_FSYNC_FDATASYNC
		return errno(unix.Fdatasync(f.fd))
	}
	return errno(unix.Fsync(f.fd))
}

// Flush returns ENOSYS, which tells the kernel to stop sending flushes:
// closing a descriptor here has nothing to flush.
func (f *file) Flush(ctx context.Context) syscall.Errno { return syscall.ENOSYS }

// Release closes the descriptor.
func (f *file) Release(ctx context.Context) syscall.Errno {
	if f.ptLower {
		f.n.mu.Lock()
		f.n.ptLower--
		f.n.mu.Unlock()
	}
	return errno(unix.Close(f.fd))
}

// Getattr reports the open file's attributes.
func (f *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return f.n.Getattr(ctx, f, out)
}

// Allocate preallocates or punches space in the upper file.
func (f *file) Allocate(ctx context.Context, off uint64, size uint64, mode uint32) syscall.Errno {
	if !f.writable {
		return syscall.EBADF
	}
	return errno(unix.Fallocate(f.fd, mode, int64(off), int64(size)))
}

// Lseek serves SEEK_DATA and SEEK_HOLE.
func (f *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	r, err := unix.Seek(f.fd, int64(off), int(whence))
	return uint64(r), errno(err)
}
