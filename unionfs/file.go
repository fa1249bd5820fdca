package unionfs

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/copyup"
)

var _ = (fs.NodeOpener)((*node)(nil))

// Open opens the topmost file; a write-open copies it up first. The node
// lock is held across the open so that the layer chosen and n.lowerPT stay
// consistent with a concurrent copy-up.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, fl, e := n.open(ctx, flags)
	if f := asFile(fh); f != nil && !f.writable {
		n.u.fileOpened(n) // a lower file (fileahead.go); after n.mu is released
	}
	return fh, fl, e
}

func (n *node) open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	write := flags&unix.O_ACCMODE != unix.O_RDONLY || flags&unix.O_TRUNC != 0
	if write && n.u.upper == "" {
		return nil, 0, syscall.EROFS
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if write {
		size := int64(-1)
		if flags&unix.O_TRUNC != 0 {
			size = 0
		}
		if err := n.ensureUpperLocked(ctx, size); err != nil {
			return nil, 0, errno(err)
		}
	}
	if n.split {
		return nil, 0, syscall.ESTALE // see retireOrAlias
	}
	rel := n.rel()
	oflags := int(flags)&^(unix.O_CREAT|unix.O_EXCL|unix.O_NOCTTY|unix.O_APPEND|unix.O_DIRECT) | unix.O_CLOEXEC | unix.O_NOFOLLOW
	gone := n.removedFd()
	if !n.upper {
		p := n.u.lowerPath(n.lower, n.lowerRel)
		if gone >= 0 {
			// Reopened through /proc/self/fd after a whiteout hid it.
			p, oflags = procFd(gone), oflags&^unix.O_NOFOLLOW
		}
		fd, err := copyup.OpenLayerFile(p, oflags)
		if err != nil {
			return nil, 0, errno(err)
		}
		if n.u.passthroughWanted() {
			n.lowerPT = true
		}
		return n.u.newFile(n, fd, false, n.u.passthroughWanted()), fuse.FOPEN_KEEP_CACHE, 0
	}
	p := n.u.upperPath(rel)
	if gone >= 0 {
		// Reopened through /proc/self/fd after its removal, or an
		// O_TMPFILE file (tmpfile.go): the descriptor kept reaches it.
		p, oflags = procFd(gone), oflags&^unix.O_NOFOLLOW
	}
	open := func(fl int) (int, error) {
		fd, err := unix.Open(p, fl, 0)
		if err == unix.EPERM && flags&unix.O_APPEND != 0 && fl&unix.O_ACCMODE != unix.O_RDONLY {
			// An append-only file (chattr +a) opens for writing only
			// with O_APPEND; writes append then, as the caller asked.
			fd, err = unix.Open(p, fl|unix.O_APPEND, 0)
		}
		return fd, err
	}
	fd, err := -1, error(unix.EACCES)
	if n.u.passthroughWanted() {
		fd, err = open(oflags&^unix.O_ACCMODE | unix.O_RDWR)
	}
	rdwr := err == nil
	if !rdwr {
		fd, err = open(oflags)
	}
	if err != nil {
		return nil, 0, errno(err)
	}
	return n.u.newFile(n, fd, true, rdwr), fuse.FOPEN_KEEP_CACHE, 0
}

// passthroughWanted reports whether handles should offer passthrough.
func (u *Union) passthroughWanted() bool { return u.opts.passthrough != PassthroughOff }

// newFile wraps fd in a handle that offers fd to the kernel for
// passthrough when pass is set: for a lower file, whenever passthrough is
// wanted; for an upper file, only when fd is O_RDWR (see "Passthrough" in
// the package doc).
func (u *Union) newFile(n *node, fd int, upper, pass bool) fs.FileHandle {
	n.opens.Add(1)
	f := &file{n: n, fd: fd, writable: upper}
	if !pass {
		return f
	}
	return &ptFile{file: f}
}

// file is an open file: a descriptor on the layer file. Reads and writes
// go straight to it; no lock is taken on the data path.
type file struct {
	n        *node
	fd       int  // the descriptor opened; closed at Release
	writable bool // fd is on the upper file

	// A read-only handle opened on the lower file follows its copy-up, as
	// with kernel overlayfs since 4.19: reads switch to a descriptor on
	// the upper file (upfd) once the node is copied up. Handles the kernel
	// passes through cannot switch (see "Passthrough" in the package doc).
	switchMu sync.Mutex   // serialises the switch
	upfd     atomic.Int32 // descriptor on the upper copy, 0 until switched
}

// readFd returns the descriptor reads should use.
func (f *file) readFd() int {
	if f.writable || !f.n.copied.Load() {
		return f.fd
	}
	if fd := f.upfd.Load(); fd > 0 {
		return int(fd)
	}
	f.switchMu.Lock()
	defer f.switchMu.Unlock()
	if fd := f.upfd.Load(); fd > 0 {
		return int(fd)
	}
	p, err := f.n.realPath()
	fd := -1
	if err == nil {
		fd, err = unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		if g := f.n.goneFd.Load(); g > 0 {
			return int(g) // removed: the copy it had
		}
		return f.fd // retired, or removed with no copy kept: the lower file
	}
	f.upfd.Store(int32(fd))
	return fd
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

// spliceMin is the smallest read served by splicing. Splicing saves a copy
// but costs more system calls per request (splice in, the header, splice
// out, draining the pipe) than pread into the request's buffer and one
// writev; for the small reads of small files copying is cheaper.
const spliceMin = 64 << 10

// Read serves a read from the layer file: small ones by pread into dest,
// larger ones by splicing.
func (f *file) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	fd := f.readFd()
	if len(dest) >= spliceMin {
		return fuse.ReadResultFd(uintptr(fd), off, len(dest)), 0
	}
	k, err := unix.Pread(fd, dest, off)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultData(dest[:k]), 0
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
	f.n.opens.Add(-1)
	if fd := f.upfd.Load(); fd > 0 {
		unix.Close(int(fd))
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
	r, err := unix.Seek(f.readFd(), int64(off), int(whence))
	return uint64(r), errno(err)
}
