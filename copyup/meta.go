package copyup

import (
	"fmt"
	"maps"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// applyMeta gives the temp entry s the metadata of src, in the order the
// package doc fixes: owner, mode, xattrs, extra xattrs, times.
func (c *Copier) applyMeta(s *staged, src string, st *unix.Stat_t, extra map[string][]byte) error {
	if err := s.chown(int(st.Uid), int(st.Gid)); err != nil {
		if c.opts.strictOwner || !isErrno(err, unix.EPERM, unix.EINVAL) {
			return &os.PathError{Op: "lchown", Path: s.path, Err: err}
		}
	}
	if s.typ != unix.S_IFLNK {
		if err := s.chmod(st.Mode & 0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: s.path, Err: err}
		}
	}
	if err := copyXattrs(s, src, c.opts.keepXattr); err != nil {
		return err
	}
	if err := setExtraXattrs(s, c.opts.extraXattrs, extra); err != nil {
		return err
	}
	if err := s.setTimes(&[2]unix.Timespec{st.Atim, st.Mtim}); err != nil {
		return &os.PathError{Op: "utimensat", Path: s.path, Err: err}
	}
	return nil
}

// The metadata calls on a temp entry work on its open fd when it has one
// (a regular file), which spares the kernel a path walk each, and on its
// path, not followed, otherwise.

func (s *staged) chown(uid, gid int) error {
	if s.fd >= 0 {
		return unix.Fchown(s.fd, uid, gid)
	}
	return unix.Lchown(s.path, uid, gid)
}

func (s *staged) chmod(mode uint32) error {
	if s.fd >= 0 {
		return unix.Fchmod(s.fd, mode)
	}
	return unix.Fchmodat(unix.AT_FDCWD, s.path, mode, 0)
}

func (s *staged) setxattr(name string, val []byte) error {
	if s.fd >= 0 {
		return unix.Fsetxattr(s.fd, name, val, 0)
	}
	return unix.Lsetxattr(s.path, name, val, 0)
}

// setTimes sets atime and mtime: futimens(2), which is utimensat with a
// NULL path, on the fd.
func (s *staged) setTimes(ts *[2]unix.Timespec) error {
	if s.fd < 0 {
		return unix.UtimesNanoAt(unix.AT_FDCWD, s.path, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	}
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(s.fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
	runtime.KeepAlive(ts)
	if e != 0 {
		return e
	}
	return nil
}

// setExtraXattrs sets the option's extras and then the call's; a failure is
// always an error.
func setExtraXattrs(s *staged, fromOpts, fromCall map[string][]byte) error {
	all := fromOpts
	if len(fromCall) > 0 {
		all = maps.Clone(fromOpts)
		if all == nil {
			all = make(map[string][]byte, len(fromCall))
		}
		maps.Copy(all, fromCall)
	}
	for name, val := range all {
		if err := s.setxattr(name, val); err != nil {
			return fmt.Errorf("set extra xattr %s on %s: %w", name, s.path, err)
		}
	}
	return nil
}
