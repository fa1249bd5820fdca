package copyup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// tempSeq numbers temp entries; process-wide so that several Copiers sharing
// a work directory never collide.
var tempSeq atomic.Uint64

// maxTempTries bounds the EEXIST retries when creating a temp entry (a stale
// entry of an earlier process with the same pid).
const maxTempTries = 1000

// staged is a temp entry in the work directory: a name there, or, for a
// regular file, an unnamed O_TMPFILE.
type staged struct {
	path string // the temp name; for an unnamed file, the work directory
	typ  uint32 // S_IFMT bits of the entry
	fd   int    // the open regular file; -1 for other types or once closed
	anon bool   // an O_TMPFILE: no name until publish links it
}

// stage creates the temp entry for src with its content (data, target or
// rdev) but none of its metadata. A regular file is an O_TMPFILE if anon
// and the work directory takes them.
func (c *Copier) stage(ctx context.Context, src string, st *unix.Stat_t, anon bool) (*staged, error) {
	s := &staged{typ: st.Mode & unix.S_IFMT, fd: -1}
	var create func(path string) error
	switch s.typ {
	case unix.S_IFREG:
		return c.stageFile(ctx, src, st, anon)
	case unix.S_IFDIR:
		create = func(p string) error { return unix.Mkdir(p, 0o700) }
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return nil, err
		}
		create = func(p string) error { return unix.Symlink(target, p) }
	case unix.S_IFIFO, unix.S_IFSOCK, unix.S_IFCHR, unix.S_IFBLK:
		create = func(p string) error { return unix.Mknod(p, s.typ|0o600, int(st.Rdev)) }
	default:
		return nil, fmt.Errorf("stage file type %#o: %w", s.typ, errors.ErrUnsupported)
	}
	p, err := c.createTemp(create)
	if err != nil {
		return nil, err
	}
	s.path = p
	return s, nil
}

// stageFile creates a temp regular file holding src's data. It works on
// raw fds: an *os.File costs an fcntl per open to learn whether the fd is
// non-blocking.
func (c *Copier) stageFile(ctx context.Context, src string, st *unix.Stat_t, anon bool) (*staged, error) {
	in, err := openSource(src)
	if err != nil {
		return nil, err
	}
	defer unix.Close(in)
	j := dataJob{sfd: in, srcName: src, size: st.Size, first: MethodClone, refused: c.refused, writeback: c.opts.sync}
	if err := unix.Fstat(in, &j.srcSt); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: src, Err: err}
	}
	if j.srcSt.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("open source %s: not a regular file any more", src)
	}

	s, err := c.createFile(anon)
	if err != nil {
		return nil, err
	}
	j.dfd, j.dstName = s.fd, s.path
	if _, err := j.run(ctx); err != nil { // new, hence empty: no truncation
		s.discard()
		return nil, err
	}
	return s, nil
}

// openSource opens src read-only without following a symlink (see
// OpenLayerFile).
func openSource(src string) (int, error) {
	return OpenLayerFile(src, unix.O_RDONLY|unix.O_NOFOLLOW)
}

// OpenLayerFile opens path, a file or directory of a read-only layer, with
// flags and O_NOATIME, as kernel overlayfs opens the layers it reads, so
// that reading leaves their access times alone. O_NOATIME needs ownership
// of the file or CAP_FOWNER; without them (a rootless caller reading a
// file of an unmapped owner) the open goes without it.
func OpenLayerFile(path string, flags int) (int, error) {
	fd, err := openFd(path, flags|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		fd, err = openFd(path, flags, 0)
	}
	return fd, err
}

// openFd opens path close-on-exec, retrying on EINTR (a lower on FUSE,
// and a signal), with the error of os.OpenFile.
func openFd(path string, flags int, mode uint32) (int, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, mode)
	for err == unix.EINTR {
		fd, err = unix.Open(path, flags|unix.O_CLOEXEC, mode)
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return fd, nil
}

// createFile creates the empty temp regular file, 0600: an O_TMPFILE in
// the work directory if anon and its filesystem takes them (a refusal is
// remembered), else a new name there.
func (c *Copier) createFile(anon bool) (*staged, error) {
	s := &staged{typ: unix.S_IFREG, fd: -1}
	if anon && !c.noTmpfile.Load() {
		fd, err := openFd(c.work, unix.O_RDWR|unix.O_TMPFILE, 0o600)
		if err == nil {
			s.path, s.fd, s.anon = c.work, fd, true
			return s, nil
		}
		// EOPNOTSUPP: the filesystem has no O_TMPFILE; EISDIR: the
		// kernel does not know the flag.
		if !isErrno(err, unix.EOPNOTSUPP, unix.EISDIR) {
			return nil, fmt.Errorf("create temp in %s: %w", c.work, err)
		}
		c.noTmpfile.Store(true)
	}
	var err error
	s.path, err = c.createTemp(func(p string) error {
		var err error
		s.fd, err = openFd(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, 0o600)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// createTemp calls create with fresh temp paths until one does not exist.
func (c *Copier) createTemp(create func(path string) error) (string, error) {
	for range maxTempTries {
		p := c.tempPrefix + strconv.FormatUint(tempSeq.Add(1), 10)
		err := create(p)
		if err == nil {
			return p, nil
		}
		if !isErrno(err, unix.EEXIST) {
			return "", fmt.Errorf("create temp %s: %w", p, err)
		}
	}
	return "", fmt.Errorf("create temp in %s: %w", c.work, unix.EEXIST)
}

// sync makes a regular file's data and metadata durable. The other types
// hold only inode metadata (a directory is created empty), which the
// journaling filesystems commit in order with the rename that publishes
// them, so they need no fsync; kernel overlayfs syncs only copied data too.
func (s *staged) sync() error {
	if s.fd < 0 {
		return nil
	}
	if err := unix.Fsync(s.fd); err != nil {
		return fmt.Errorf("sync %s: %w", s.path, err)
	}
	return nil
}

// close closes the open file, if any.
func (s *staged) close() error {
	if s.fd < 0 {
		return nil
	}
	fd := s.fd
	s.fd = -1
	if err := unix.Close(fd); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// discard closes and removes the temp entry, best effort: whatever is left
// is removed by the next Clean. An unnamed file goes with its last fd.
func (s *staged) discard() {
	_ = s.close()
	if s.anon {
		return
	}
	if s.typ == unix.S_IFDIR {
		_ = unix.Rmdir(s.path)
	} else {
		_ = unix.Unlink(s.path)
	}
}
