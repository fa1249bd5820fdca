package copyup

import (
	"fmt"
	"maps"
	"os"

	"golang.org/x/sys/unix"
)

// applyMeta gives the temp entry at p the metadata of src, in the order the
// package doc fixes: owner, mode, xattrs, extra xattrs, times.
func (c *Copier) applyMeta(p, src string, st *unix.Stat_t, extra map[string][]byte) error {
	if err := unix.Lchown(p, int(st.Uid), int(st.Gid)); err != nil {
		if c.opts.strictOwner || !isErrno(err, unix.EPERM, unix.EINVAL) {
			return &os.PathError{Op: "lchown", Path: p, Err: err}
		}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Fchmodat(unix.AT_FDCWD, p, st.Mode&0o7777, 0); err != nil {
			return &os.PathError{Op: "chmod", Path: p, Err: err}
		}
	}
	if err := copyXattrs(p, src, c.opts.keepXattr); err != nil {
		return err
	}
	if err := setExtraXattrs(p, c.opts.extraXattrs, extra); err != nil {
		return err
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: p, Err: err}
	}
	return nil
}

// setExtraXattrs sets the option's extras and then the call's; a failure is
// always an error.
func setExtraXattrs(p string, fromOpts, fromCall map[string][]byte) error {
	all := fromOpts
	if len(fromCall) > 0 {
		all = maps.Clone(fromOpts)
		if all == nil {
			all = make(map[string][]byte, len(fromCall))
		}
		maps.Copy(all, fromCall)
	}
	for name, val := range all {
		if err := unix.Lsetxattr(p, name, val, 0); err != nil {
			return fmt.Errorf("set extra xattr %s on %s: %w", name, p, err)
		}
	}
	return nil
}
