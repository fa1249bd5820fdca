package copyup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// staged is a temp entry in the work directory.
type staged struct {
	path string
	typ  uint32   // S_IFMT bits of the entry
	f    *os.File // the open regular file; nil for other types or once closed
}

// stage creates the temp entry for src with its content (data, target or
// rdev) but none of its metadata.
func (c *Copier) stage(ctx context.Context, src string, st *unix.Stat_t) (*staged, error) {
	s := &staged{typ: st.Mode & unix.S_IFMT}
	var create func(path string) error
	switch s.typ {
	case unix.S_IFREG:
		return c.stageFile(ctx, src, st)
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

// stageFile creates a temp regular file holding src's data.
func (c *Copier) stageFile(ctx context.Context, src string, st *unix.Stat_t) (*staged, error) {
	in, err := openSource(src)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	var inSt unix.Stat_t
	if err := unix.Fstat(int(in.Fd()), &inSt); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: src, Err: err}
	}
	if inSt.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("open source %s: not a regular file any more", src)
	}

	var out *os.File
	p, err := c.createTemp(func(p string) error {
		var err error
		out, err = openFile(p, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, 0o600)
		return err
	})
	if err != nil {
		return nil, err
	}
	s := &staged{path: p, typ: unix.S_IFREG, f: out}
	if _, err := CopyData(ctx, s.f, in, st.Size); err != nil {
		s.discard()
		return nil, err
	}
	return s, nil
}

// openSource opens src read-only without following a symlink, with
// O_NOATIME when the caller owns the file or has CAP_FOWNER.
func openSource(src string) (*os.File, error) {
	const flags = unix.O_RDONLY | unix.O_NOFOLLOW
	f, err := openFile(src, flags|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		f, err = openFile(src, flags, 0)
	}
	return f, err
}

// openFile is os.OpenFile for the regular files of a copy-up: the same
// *os.PathError, without the four fcntl calls os.OpenFile spends on
// trying to register a regular file with the runtime's poller.
func openFile(path string, flags int, mode uint32) (*os.File, error) {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, mode)
	for err == unix.EINTR { // a lower on FUSE, and a signal
		fd, err = unix.Open(path, flags|unix.O_CLOEXEC, mode)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// createTemp calls create with fresh temp paths until one does not exist.
func (c *Copier) createTemp(create func(path string) error) (string, error) {
	pid := strconv.Itoa(os.Getpid())
	for range maxTempTries {
		p := filepath.Join(c.work, "#lamina-"+pid+"-"+strconv.FormatUint(tempSeq.Add(1), 10))
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

// sync makes the entry's data and metadata durable, for the types that can
// be opened without side effects.
func (s *staged) sync() error {
	switch {
	case s.f != nil:
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", s.path, err)
		}
	case s.typ == unix.S_IFDIR:
		d, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("sync dir: %w", err)
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", s.path, err)
		}
	}
	return nil
}

// close closes the open file, if any.
func (s *staged) close() error {
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// discard closes and removes the temp entry, best effort: whatever is left
// is removed by the next Clean.
func (s *staged) discard() {
	_ = s.close()
	if s.typ == unix.S_IFDIR {
		_ = unix.Rmdir(s.path)
	} else {
		_ = unix.Unlink(s.path)
	}
}
