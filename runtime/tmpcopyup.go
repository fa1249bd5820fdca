package runtime

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// optTmpcopyup is runc's mount extension that podman puts on its tmpfs
// mounts (/run, /tmp and --tmpfs with --read-only, for instance): the new
// tmpfs starts with a copy of what the rootfs holds at the destination,
// so that an image's /run/lock or /tmp/.X11-unix is still there. It is
// not a mount(2) option and never goes to the filesystem as data.
const optTmpcopyup = "tmpcopyup"

// mountTmpcopyup mounts a tmpfs at dest and copies the directory it
// covers into it: files, directories, symlinks and special files with
// their modes, owners and modification times (not xattrs, as runc). The
// covered directory is read through a descriptor opened before the mount,
// so nothing is mounted or written outside the container; the tmpfs root
// takes the covered directory's mode. A missing dest is created (0755) and
// the tmpfs then keeps its own mode, as with runc. flags must not hold
// MS_RDONLY (mountOne makes a tmpfs read-only after every mount).
func mountTmpcopyup(src, dest string, flags uintptr, data string) error {
	under, err := os.Open(dest)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dest, 0o755); err != nil {
			return err
		}
		return mount(src, dest, "tmpfs", flags, data)
	}
	if err != nil {
		return err
	}
	defer under.Close()
	fi, err := under.Stat()
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s: %s is not a directory", optTmpcopyup, dest)
	}
	if err := mount(src, dest, "tmpfs", flags, data); err != nil {
		return err
	}
	if err := copyDirAt(under, dest); err != nil {
		return fmt.Errorf("%s: copy %s: %w", optTmpcopyup, dest, err)
	}
	if err := os.Chmod(dest, fi.Mode()&os.ModePerm|fi.Mode()&(os.ModeSticky|os.ModeSetgid|os.ModeSetuid)); err != nil {
		return err
	}
	return nil
}

// copyDirAt copies the entries of the open directory dir into the
// directory dst, recursively, resolving every name relative to dir's
// descriptor (dir may be covered by a mount by now).
func copyDirAt(dir *os.File, dst string) error {
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return err
	}
	fd := int(dir.Fd())
	for _, e := range entries {
		name := e.Name()
		target := filepath.Join(dst, name)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "stat", Path: target, Err: err}
		}
		perm := st.Mode & 0o7777
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if err := unix.Mkdir(target, 0o700); err != nil {
				return &os.PathError{Op: "mkdir", Path: target, Err: err}
			}
			cfd, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return &os.PathError{Op: "open", Path: target, Err: err}
			}
			child := os.NewFile(uintptr(cfd), target)
			err = copyDirAt(child, target)
			child.Close()
			if err != nil {
				return err
			}
		case unix.S_IFLNK:
			link, err := readlinkat(fd, name)
			if err != nil {
				return &os.PathError{Op: "readlink", Path: target, Err: err}
			}
			if err := os.Symlink(link, target); err != nil {
				return err
			}
		case unix.S_IFREG:
			if err := copyFileAt(fd, name, target); err != nil {
				return err
			}
		default:
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return &os.PathError{Op: "mknod", Path: target, Err: err}
			}
		}
		if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			// After the chown, which clears setuid and setgid.
			if err := unix.Chmod(target, perm); err != nil {
				return &os.PathError{Op: "chmod", Path: target, Err: err}
			}
		}
		ts := []unix.Timespec{st.Atim, st.Mtim}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "utimes", Path: target, Err: err}
		}
	}
	return nil
}

func copyFileAt(dirfd int, name, target string) error {
	sfd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: target, Err: err}
	}
	src := os.NewFile(uintptr(sfd), target)
	defer src.Close()
	dst, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("copy %s: %w", target, err)
	}
	return dst.Close()
}

func readlinkat(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}
