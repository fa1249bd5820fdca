package copyup

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// procSelfFD is where a process's descriptors have names.
const procSelfFD = "/proc/self/fd"

// errLinkTmpfile marks a failure to give an unnamed temp file its name for
// a reason other than an existing destination; the copy is worth retrying
// with a named temp entry.
var errLinkTmpfile = errors.New("name unnamed temp file")

// publish moves the finished temp entry to dst without ever replacing an
// existing dst. perm is the entry's final permission bits (for the
// read-only directory case described in the package doc).
func publish(s *staged, dst string, perm uint32) error {
	if s.anon {
		return linkTmpfile(s.fd, dst)
	}
	err := rename(s.path, dst)
	switch {
	case err == nil:
		return nil
	case err == unix.EEXIST:
		return existsError(dst, err)
	case err == unix.EINVAL && s.typ != unix.S_IFDIR:
		// No RENAME_NOREPLACE here; link(2) never replaces either.
		if err := unix.Link(s.path, dst); err != nil {
			if err == unix.EEXIST {
				return existsError(dst, err)
			}
			return &os.LinkError{Op: "link", Old: s.path, New: dst, Err: err}
		}
		_ = unix.Unlink(s.path) // a leftover second name is Clean's
		return nil
	case err == unix.EACCES && s.typ == unix.S_IFDIR && perm&0o200 == 0:
		// Moving a directory rewrites its "..", which needs write
		// permission on it without CAP_DAC_OVERRIDE.
		if err := unix.Chmod(s.path, perm|0o200); err != nil {
			return &os.PathError{Op: "chmod", Path: s.path, Err: err}
		}
		if err := rename(s.path, dst); err != nil {
			if err == unix.EEXIST {
				return existsError(dst, err)
			}
			return &os.LinkError{Op: "rename", Old: s.path, New: dst, Err: err}
		}
		if err := unix.Chmod(dst, perm); err != nil {
			_ = unix.Rmdir(dst) // still empty: the caller holds the path
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
		return nil
	default:
		return &os.LinkError{Op: "rename", Old: s.path, New: dst, Err: err}
	}
}

func rename(from, to string) error {
	return unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
}

// linkat is unix.Linkat; a test makes it fail.
var linkat = unix.Linkat

// linkTmpfile names the O_TMPFILE open at fd dst with linkat(2), which never
// replaces an existing name. It links the descriptor's /proc/self/fd entry,
// following it: linkat's AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH.
func linkTmpfile(fd int, dst string) error {
	from := procSelfFD + "/" + strconv.Itoa(fd)
	err := linkat(unix.AT_FDCWD, from, unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	for err == unix.EINTR {
		err = linkat(unix.AT_FDCWD, from, unix.AT_FDCWD, dst, unix.AT_SYMLINK_FOLLOW)
	}
	switch {
	case err == nil:
		return nil
	case err == unix.EEXIST:
		return existsError(dst, err)
	default:
		return fmt.Errorf("%w: %w", errLinkTmpfile, &os.LinkError{Op: "link", Old: from, New: dst, Err: err})
	}
}
