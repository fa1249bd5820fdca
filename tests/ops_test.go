package tests

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// op is one scripted step of a differential case. fn performs syscalls on
// the mount mnt and returns a canonical result: "ok" or an errno name, plus
// whatever output is comparable between the oracle and the subject.
type op struct {
	name string
	fn   func(mnt string) string
	want string // if set, the subject's result must be this, whatever the kernel says
}

func doStat(p string) op {
	return op{name: "stat " + p, fn: func(m string) string { return statString(filepath.Join(m, p)) }}
}

func doRead(p string) op {
	return op{name: "read " + p, fn: func(m string) string { return readString(filepath.Join(m, p)) }}
}

func readString(p string) string { return readStringFlags(p, 0) }

// readStringFlags reads all of p, opened read-only with extra flags.
func readStringFlags(p string, flags int) string {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return "open:" + errName(err)
	}
	defer unix.Close(fd)
	var data []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil {
			return "read:" + errName(err)
		}
		if n == 0 {
			return "ok " + contentString(data)
		}
		data = append(data, buf[:n]...)
	}
}

func doReadAt(p string, off int64, n int) op { return doReadAtFlags(p, 0, off, n) }

// doReadAtFlags reads n bytes of p at off, opened read-only with extra flags.
func doReadAtFlags(p string, flags int, off int64, n int) op {
	return op{name: fmt.Sprintf("pread %s @%d+%d", p, off, n), fn: func(m string) string {
		fd, err := unix.Open(filepath.Join(m, p), unix.O_RDONLY|unix.O_CLOEXEC|flags, 0)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		buf := make([]byte, n)
		got, err := unix.Pread(fd, buf, off)
		if err != nil {
			return "pread:" + errName(err)
		}
		return "ok " + contentString(buf[:got])
	}}
}

// doWrite opens p with flags and writes data at off (or at the end when the
// flags say O_APPEND).
func doWrite(p string, flags int, off int64, data string) op {
	return op{name: fmt.Sprintf("write %s flags=%#o @%d %q", p, flags, off, data), fn: func(m string) string {
		fd, err := unix.Open(filepath.Join(m, p), flags|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return "open:" + errName(err)
		}
		var n int
		if flags&unix.O_APPEND != 0 {
			n, err = unix.Write(fd, []byte(data))
		} else {
			n, err = unix.Pwrite(fd, []byte(data), off)
		}
		cerr := unix.Close(fd)
		if err != nil {
			return "write:" + errName(err)
		}
		return fmt.Sprintf("ok n=%d close=%s", n, errName(cerr))
	}}
}

func doAppend(p, data string) op { return doWrite(p, unix.O_WRONLY|unix.O_APPEND, 0, data) }
func doCreate(p, data string) op {
	return doWrite(p, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0, data)
}
func doCreateExcl(p string) op { return doWrite(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0, "") }

// doOpen opens p with flags and closes it again.
func doOpen(p string, flags int) op {
	return op{name: fmt.Sprintf("open %s flags=%#o", p, flags), fn: func(m string) string {
		fd, err := unix.Open(filepath.Join(m, p), flags|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(fd)
		}
		return errName(err)
	}}
}

// doStaleFD opens p read-only, writes to it through a second descriptor
// (copy-up), and reads through the first: the old descriptor must see the
// new data, as it does on kernel overlayfs since Linux 4.19.
func doStaleFD(p, data string) op {
	return op{name: "stale fd " + p, fn: func(m string) string {
		ro, err := unix.Open(filepath.Join(m, p), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open ro:" + errName(err)
		}
		defer unix.Close(ro)
		wr, err := unix.Open(filepath.Join(m, p), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open wr:" + errName(err)
		}
		_, werr := unix.Pwrite(wr, []byte(data), 0)
		unix.Close(wr)
		buf := make([]byte, 256)
		n, rerr := unix.Pread(ro, buf, 0)
		if rerr != nil {
			return fmt.Sprintf("write:%s pread:%s", errName(werr), errName(rerr))
		}
		return fmt.Sprintf("write:%s read=%s", errName(werr), contentString(buf[:n]))
	}}
}

func doTruncate(p string, size int64) op {
	return op{name: fmt.Sprintf("truncate %s %d", p, size), fn: func(m string) string {
		return errName(unix.Truncate(filepath.Join(m, p), size))
	}}
}

func doChmod(p string, mode uint32) op {
	return op{name: fmt.Sprintf("chmod %s %04o", p, mode), fn: func(m string) string {
		return errName(unix.Chmod(filepath.Join(m, p), mode))
	}}
}

func doChown(p string, uid, gid int) op {
	return op{name: fmt.Sprintf("lchown %s %d:%d", p, uid, gid), fn: func(m string) string {
		return errName(unix.Lchown(filepath.Join(m, p), uid, gid))
	}}
}

// doUtimens sets atime and mtime of p (not following symlinks) to
// utimensTime, which mtimeClass reports as "set".
func doUtimens(p string) op {
	return op{name: "utimens " + p, fn: func(m string) string {
		ts := unix.NsecToTimespec(utimensTime * 1e9)
		return errName(unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(m, p), []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW))
	}}
}

func doSetxattr(p, name, value string) op {
	return op{name: fmt.Sprintf("setxattr %s %s=%q", p, name, value), fn: func(m string) string {
		return errName(unix.Lsetxattr(filepath.Join(m, p), name, []byte(value), 0))
	}}
}

func doRemovexattr(p, name string) op {
	return op{name: fmt.Sprintf("removexattr %s %s", p, name), fn: func(m string) string {
		return errName(unix.Lremovexattr(filepath.Join(m, p), name))
	}}
}

func doGetxattr(p, name string) op {
	return op{name: fmt.Sprintf("getxattr %s %s", p, name), fn: func(m string) string {
		v, err := getxattr(filepath.Join(m, p), name)
		if err != nil {
			return errName(err)
		}
		return fmt.Sprintf("ok %q", v)
	}}
}

func doListxattr(p string) op {
	return op{name: "listxattr " + p, fn: func(m string) string {
		x, err := xattrList(filepath.Join(m, p))
		if err != nil {
			return errName(err)
		}
		return "ok " + x
	}}
}

// doChangeThroughReadOnlyFd opens the lower file p read-only (with
// passthrough, the kernel then reads it through the lower file), changes
// its mode twice and sets an xattr through that descriptor, which copies
// it up, and reports each step, the descriptor's fstat and the path's stat.
func doChangeThroughReadOnlyFd(p string) op {
	return op{name: "fchmod and fsetxattr through a read-only descriptor on " + p, fn: func(m string) string {
		full := filepath.Join(m, p)
		fd, err := unix.Open(full, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		steps := []string{
			"fchmod 0751:" + errName(unix.Fchmod(fd, 0o751)),
			"fchmod 0700:" + errName(unix.Fchmod(fd, 0o700)),
			"fsetxattr:" + errName(unix.Fsetxattr(fd, "user.fd", []byte("v"), 0)),
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			steps = append(steps, "fstat:"+errName(err))
		} else {
			steps = append(steps, "fstat mode "+strconv.FormatUint(uint64(st.Mode), 8))
		}
		return strings.Join(append(steps, statString(full)), "; ")
	}}
}
