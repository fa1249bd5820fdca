package tests

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// O_TMPFILE: an unnamed file made in a directory, changed through its
// descriptor and named with linkat.

// linkFd gives the file open as fd the name p, through /proc/self/fd as
// unprivileged callers do (AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH).
func linkFd(fd int, p string) error {
	return unix.Linkat(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd), unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
}

// doTmpfile makes an unnamed file in dir, writes data, changes its mode
// and an xattr, reads it back through a reopen, and names it name ("" to
// leave it unnamed; it is gone once closed).
func doTmpfile(dir, name, data string) op {
	return op{name: "O_TMPFILE in " + dir + " named " + name, fn: func(m string) string {
		fd, err := unix.Open(filepath.Join(m, dir), unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o640)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		var b strings.Builder
		step := func(name string, err error) { fmt.Fprintf(&b, "%s:%s ", name, errName(err)) }
		_, err = unix.Write(fd, []byte(data))
		step("write", err)
		step("fchmod", unix.Fchmod(fd, 0o604))
		step("fsetxattr", unix.Fsetxattr(fd, "user.tmp", []byte("v"), 0))
		if rfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			step("reopen", err)
		} else {
			buf := make([]byte, 64)
			n, err := unix.Read(rfd, buf)
			unix.Close(rfd)
			if err != nil {
				step("reread", err)
			} else {
				fmt.Fprintf(&b, "reread=%q ", buf[:n])
			}
		}
		if name != "" {
			step("link", linkFd(fd, filepath.Join(m, name)))
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return b.String() + "fstat:" + errName(err)
		}
		return b.String() + describe(&st, "")
	}}
}

// doTmpfileExcl makes an unnamed file with O_EXCL, which may never be
// named: linkat fails.
func doTmpfileExcl(dir, name string) op {
	return op{name: "O_TMPFILE|O_EXCL in " + dir, fn: func(m string) string {
		fd, err := unix.Open(filepath.Join(m, dir), unix.O_TMPFILE|unix.O_WRONLY|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		return "link:" + errName(linkFd(fd, filepath.Join(m, name)))
	}}
}

// doReopenRemoved opens p, removes it and reads it through a reopen of
// /proc/self/fd, as one recovers a deleted file a process still holds.
// (Kernel overlayfs answers EEXIST to a reopen for writing of a removed
// lower file, lamina ENOENT: not compared.)
func doReopenRemoved(p string) op {
	return op{name: "reopen " + p + " after removing it", fn: func(m string) string {
		fd, failed := openRemoved(filepath.Join(m, p), unix.O_RDONLY)
		if failed != "" {
			return failed
		}
		defer unix.Close(fd)
		rfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "reopen:" + errName(err)
		}
		defer unix.Close(rfd)
		buf := make([]byte, 64)
		n, err := unix.Read(rfd, buf)
		if err != nil {
			return "read:" + errName(err)
		}
		return fmt.Sprintf("%q", buf[:n])
	}}
}

// doReopenRemovedFifo makes a fifo p, holds it open, gives it another
// owner, removes it and reads it through a reopen of /proc/self/fd (an
// empty fifo opened non-blocking: EAGAIN).
func doReopenRemovedFifo(p string) op {
	return op{name: "reopen fifo " + p + " after chown and remove", fn: func(m string) string {
		path := filepath.Join(m, p)
		if err := unix.Mkfifo(path, 0o644); err != nil {
			return "mkfifo:" + errName(err)
		}
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		if err := unix.Lchown(path, 1000, 0); err != nil {
			return "lchown:" + errName(err)
		}
		if err := unix.Unlink(path); err != nil {
			return "unlink:" + errName(err)
		}
		rfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return "reopen:" + errName(err)
		}
		defer unix.Close(rfd)
		_, err = unix.Read(rfd, make([]byte, 8))
		return "read:" + errName(err)
	}}
}
