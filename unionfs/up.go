package unionfs

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
)

// ensureUpper copies the node up if it is not in the upper layer yet:
// parents first, then the node. It returns EROFS for a read-only union.
func (n *node) ensureUpper(ctx context.Context) error {
	if n.u.upper == "" {
		return syscall.EROFS
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ensureUpperLocked(ctx)
}

// ensureUpperLocked is ensureUpper for a caller that holds n.mu.
//
// Preconditions: n.mu is held; the union has an upper layer.
func (n *node) ensureUpperLocked(ctx context.Context) error {
	if n.upper {
		return nil
	}
	_, parent := n.Parent()
	if parent == nil || n.lower < 0 {
		return syscall.ENOENT // unlinked while open, or the root
	}
	// Lock order: child before parent (see the package doc).
	if err := parent.Operations().(*node).ensureUpper(ctx); err != nil {
		return err
	}
	rel := n.rel()
	src, dst := n.u.lowerPath(n.lower, rel), n.u.upperPath(rel)
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return fmt.Errorf("stat copy-up source: %w", err)
	}
	var extra map[string][]byte
	if st.Mode&unix.S_IFMT == unix.S_IFREG { // user.* xattrs only go on files and dirs
		if name, value := n.u.writer.OriginXattr(n.StableAttr().Ino); name != "" {
			extra = map[string][]byte{name: value}
		}
	}
	if err := n.u.copier.Copy(ctx, src, dst, &st, extra); err != nil {
		return fmt.Errorf("copy up %s: %w", rel, err)
	}
	n.upper, n.upperXwh = true, false
	return nil
}

// tempPath returns a fresh name in <work>/work for staging an entry.
func (u *Union) tempPath() string {
	return u.work + "/work/#" + strconv.FormatUint(u.tmpSeq.Add(1), 36) + "-" + strconv.Itoa(os.Getpid())
}

// publish makes a new upper entry called name in dir (an upper directory),
// built by make. If a whiteout occupies the name it is replaced
// atomically: the entry is built in the work directory and renamed (or,
// for directories, exchanged) over it, so the lower entry never shows
// through, even after a crash. Returns the final path.
func (u *Union) publish(dir, name string, mk func(path string) error) (string, error) {
	dst := dir + "/" + name
	var occ unix.Stat_t
	if err := unix.Lstat(dst, &occ); err != nil {
		if err != unix.ENOENT {
			return "", err
		}
		if err := mk(dst); err != nil {
			return "", err
		}
		return dst, u.writer.Remove(dir, name)
	}
	tmp := u.tempPath()
	if err := mk(tmp); err != nil {
		return "", err
	}
	var st unix.Stat_t
	if err := unix.Lstat(tmp, &st); err != nil {
		return "", err
	}
	if isDir(&st) || isDir(&occ) {
		if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("exchange whiteout: %w", err)
		}
		if err := os.RemoveAll(tmp); err != nil {
			return "", fmt.Errorf("remove replaced whiteout: %w", err)
		}
	} else if err := unix.Rename(tmp, dst); err != nil {
		unix.Unlink(tmp)
		return "", fmt.Errorf("replace whiteout: %w", err)
	}
	return dst, u.writer.Remove(dir, name)
}

// owner returns the host uid and gid a new entry made by the caller gets,
// and whether it inherits the setgid bit of its parent directory.
func (u *Union) owner(ctx context.Context, parentDir string) (uid, gid int, setgid bool) {
	uid, gid = os.Getuid(), os.Getgid()
	if c, ok := fuse.FromContext(ctx); ok {
		uid, gid = int(u.opts.uidMap.ToHost(c.Uid)), int(u.opts.gidMap.ToHost(c.Gid))
	}
	var st unix.Stat_t
	if unix.Stat(parentDir, &st) == nil && st.Mode&unix.S_ISGID != 0 {
		gid, setgid = int(st.Gid), true
	}
	return uid, gid, setgid
}

// chownNew gives a new entry its owner; mode restores the permission bits
// that chown clears (setuid and setgid) unless it is a symlink.
func chownNew(path string, uid, gid int, mode uint32, symlink bool) error {
	if err := unix.Lchown(path, uid, gid); err != nil && err != unix.EPERM {
		return fmt.Errorf("chown new entry: %w", err)
	}
	if !symlink && mode&(unix.S_ISUID|unix.S_ISGID|unix.S_ISVTX) != 0 {
		if err := unix.Chmod(path, mode&07777); err != nil {
			return fmt.Errorf("chmod new entry: %w", err)
		}
	}
	return nil
}

// upperWhitedOut reports whether the upper directory dir whites out name.
func upperWhitedOut(dir, name string) bool {
	var st unix.Stat_t
	s, err := whiteout.Lookup(dir, name, true, &st)
	return err == nil && s == whiteout.WhitedOut
}

// lowerHas reports whether a lower layer merged into this directory shows
// name, so that removing it from the union needs a whiteout.
func (n *node) lowerHas(dirRel, name string) (bool, error) {
	_, _, dirs := n.dirLayers()
	var st unix.Stat_t
	for _, d := range dirs {
		s, err := whiteout.Lookup(n.u.lowerPath(d.idx, dirRel), name, d.xwh, &st)
		if err != nil {
			return false, err
		}
		switch s {
		case whiteout.Present:
			return true, nil
		case whiteout.WhitedOut:
			return false, nil
		}
	}
	return false, nil
}

// errno converts an internal error at the FUSE boundary.
func errno(err error) syscall.Errno { return fs.ToErrno(err) }
