package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Namespace operations: create, remove, rename and list names.

func doUnlink(p string) op {
	return op{name: "unlink " + p, fn: func(m string) string { return errName(unix.Unlink(filepath.Join(m, p))) }}
}

func doRmdir(p string) op {
	return op{name: "rmdir " + p, fn: func(m string) string { return errName(unix.Rmdir(filepath.Join(m, p))) }}
}

func doMkdir(p string, mode uint32) op {
	return op{name: fmt.Sprintf("mkdir %s %04o", p, mode), fn: func(m string) string {
		return errName(unix.Mkdir(filepath.Join(m, p), mode))
	}}
}

func doRename(from, to string) op {
	return op{name: "rename " + from + " " + to, fn: func(m string) string {
		return errName(unix.Rename(filepath.Join(m, from), filepath.Join(m, to)))
	}}
}

func doLink(existing, p string) op {
	return op{name: "link " + existing + " " + p, fn: func(m string) string {
		return errName(unix.Link(filepath.Join(m, existing), filepath.Join(m, p)))
	}}
}

func doSymlink(target, p string) op {
	return op{name: "symlink " + target + " " + p, fn: func(m string) string {
		return errName(unix.Symlink(target, filepath.Join(m, p)))
	}}
}

func doReadlink(p string) op {
	return op{name: "readlink " + p, fn: func(m string) string {
		t, err := os.Readlink(filepath.Join(m, p))
		if err != nil {
			return errName(err)
		}
		return fmt.Sprintf("ok %q", t)
	}}
}

func doMkfifo(p string) op {
	return op{name: "mkfifo " + p, fn: func(m string) string {
		return errName(unix.Mknod(filepath.Join(m, p), unix.S_IFIFO|0o640, 0))
	}}
}

func doFallocate(p string, mode uint32, off, length int64) op {
	return op{name: fmt.Sprintf("fallocate %s mode=%d %d+%d", p, mode, off, length), fn: func(m string) string {
		fd, err := unix.Open(filepath.Join(m, p), unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		return errName(unix.Fallocate(fd, mode, off, length))
	}}
}

// doFsync writes data at the end of p and syncs it with fsync and fdatasync;
// p may be a directory, which is opened read-only and synced.
func doFsync(p, data string) op {
	return op{name: "fsync " + p, fn: func(m string) string {
		full := filepath.Join(m, p)
		flags := unix.O_WRONLY | unix.O_APPEND
		if fi, err := os.Lstat(full); err == nil && fi.IsDir() {
			flags = unix.O_RDONLY | unix.O_DIRECTORY
		}
		fd, err := unix.Open(full, flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		if flags&unix.O_WRONLY != 0 {
			if _, err := unix.Write(fd, []byte(data)); err != nil {
				return "write:" + errName(err)
			}
		}
		return fmt.Sprintf("fsync:%s fdatasync:%s", errName(unix.Fsync(fd)), errName(unix.Fdatasync(fd)))
	}}
}

// doReaddir lists p, "." and ".." included, with the d_type of each name.
func doReaddir(p string) op {
	return op{name: "readdir " + p, fn: func(m string) string {
		ents, err := readDir(filepath.Join(m, p), 8192)
		if err != nil {
			return errName(err)
		}
		return "ok " + formatDirents(ents)
	}}
}

// doRewind reads part of p's listing with a small buffer, seeks back to 0
// (rewinddir), reads it all, and checks the result against a fresh open.
func doRewind(p string) op {
	return op{name: "rewind " + p, fn: func(m string) string {
		full := filepath.Join(m, p)
		fd, err := unix.Open(full, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return errName(err)
		}
		defer unix.Close(fd)
		small := make([]byte, 64) // room for a record or two
		if _, err := unix.Getdents(fd, small); err != nil {
			return "getdents:" + errName(err)
		}
		if _, err := unix.Seek(fd, 0, 0); err != nil {
			return "seek:" + errName(err)
		}
		again, err := getdents(fd, 300)
		if err != nil {
			return "getdents:" + errName(err)
		}
		fresh, err := readDir(full, 8192)
		if err != nil {
			return "fresh:" + errName(err)
		}
		a, f := formatDirents(again), formatDirents(fresh)
		if a != f {
			return fmt.Sprintf("after rewind %s, fresh %s", a, f)
		}
		return "ok same " + a
	}}
}

// doFstatRemoved opens p read-only without blocking (p may be a fifo or a
// directory), removes it (rmdir for a directory), and fstats the
// descriptor it still holds.
func doFstatRemoved(p string) op { return doFstatCopiedRemoved(p, "") }

// doFstatCopiedRemoved is doFstatRemoved with, when data is not empty, an
// append of data through a second descriptor (a copy-up) before the
// removal.
func doFstatCopiedRemoved(p, data string) op {
	name := "fstat after removing " + p
	if data != "" {
		name = "fstat after appending to and removing " + p
	}
	return op{name: name, fn: func(m string) string {
		full := filepath.Join(m, p)
		fd, err := unix.Open(full, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		if data != "" {
			if r := doAppend(p, data).fn(m); !strings.HasPrefix(r, "ok ") {
				return "append:" + r
			}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return "fstat before:" + errName(err)
		}
		remove := unix.Unlink
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			remove = unix.Rmdir
		}
		if err := remove(full); err != nil {
			return "remove:" + errName(err)
		}
		if err := unix.Fstat(fd, &st); err != nil {
			return "fstat:" + errName(err)
		}
		return describe(&st, "")
	}}
}

// doFstatReplaced opens p read-only, chmods it to mode (a copy-up of a
// lower file), renames other over it, and fstats the descriptor it still
// holds on the replaced file.
func doFstatReplaced(p string, mode uint32, other string) op {
	return op{name: fmt.Sprintf("fstat after chmod %04o of %s and renaming %s over it", mode, p, other), fn: func(m string) string {
		fd, err := unix.Open(filepath.Join(m, p), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open:" + errName(err)
		}
		defer unix.Close(fd)
		if err := unix.Chmod(filepath.Join(m, p), mode); err != nil {
			return "chmod:" + errName(err)
		}
		if err := unix.Rename(filepath.Join(m, other), filepath.Join(m, p)); err != nil {
			return "rename:" + errName(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return "fstat:" + errName(err)
		}
		return describe(&st, "")
	}}
}

// doStaleFDRemovedGrown opens p read-only, opens it again for appending (a
// copy-up of a lower file), removes it, appends data through the second
// descriptor, and reports what the first one reads and fstat says.
func doStaleFDRemovedGrown(p, data string) op {
	return op{name: "read-only fd of " + p + " after copy-up, unlink and append", fn: func(m string) string {
		full := filepath.Join(m, p)
		ro, err := unix.Open(full, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open ro:" + errName(err)
		}
		defer unix.Close(ro)
		wr, err := unix.Open(full, unix.O_WRONLY|unix.O_APPEND|unix.O_CLOEXEC, 0)
		if err != nil {
			return "open wr:" + errName(err)
		}
		defer unix.Close(wr)
		if err := unix.Unlink(full); err != nil {
			return "unlink:" + errName(err)
		}
		if _, err := unix.Write(wr, []byte(data)); err != nil {
			return "write:" + errName(err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(ro, &st); err != nil {
			return "fstat:" + errName(err)
		}
		buf := make([]byte, 256)
		n, err := unix.Pread(ro, buf, 0)
		if err != nil {
			return "pread:" + errName(err)
		}
		return describe(&st, "") + " read=" + contentString(buf[:n])
	}}
}

// openRemoved opens full with flags and unlinks it, returning the
// descriptor, or what failed (with its errno) and -1.
func openRemoved(full string, flags int) (fd int, failed string) {
	fd, err := unix.Open(full, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "open:" + errName(err)
	}
	if err := unix.Unlink(full); err != nil {
		unix.Close(fd)
		return -1, "unlink:" + errName(err)
	}
	return fd, ""
}

// doChangeRemoved opens p for writing (copying a lower file up), removes
// it, and changes the removed file through the descriptor it still holds,
// as fchmod, fchown, futimens and the f*xattr calls do: on kernel
// overlayfs, as on any filesystem, they work on a file without a name.
func doChangeRemoved(p string) op {
	return op{name: "change " + p + " after removing it", fn: func(m string) string {
		fd, failed := openRemoved(filepath.Join(m, p), unix.O_RDWR)
		if failed != "" {
			return failed
		}
		defer unix.Close(fd)
		var b strings.Builder
		step := func(name string, err error) { fmt.Fprintf(&b, "%s:%s ", name, errName(err)) }
		step("fchmod", unix.Fchmod(fd, 0o640))
		step("fchown", unix.Fchown(fd, 1234, 4321))
		step("futimens", unix.UtimesNanoAt(unix.AT_FDCWD, fmt.Sprintf("/proc/self/fd/%d", fd),
			[]unix.Timespec{{Sec: 1000}, {Sec: 2000}}, 0))
		step("fsetxattr", unix.Fsetxattr(fd, "user.removed", []byte("v"), 0))
		val := make([]byte, 16)
		n, err := unix.Fgetxattr(fd, "user.removed", val)
		if err == nil {
			fmt.Fprintf(&b, "fgetxattr=%q ", val[:n])
		} else {
			step("fgetxattr", err)
		}
		step("fremovexattr", unix.Fremovexattr(fd, "user.removed"))
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return b.String() + "fstat:" + errName(err)
		}
		return b.String() + describe(&st, "") + fmt.Sprintf(" mtime=%d", st.Mtim.Sec)
	}}
}
