package unionfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/copyup"
	"github.com/lamina-dev/lamina/whiteout"
)

// ensureUpper copies the node up if it is not in the upper layer yet:
// parents first, then the node. It returns EROFS for a read-only union.
func (n *node) ensureUpper(ctx context.Context) error { return n.ensureUpperSize(ctx, -1) }

// ensureUpperSize is ensureUpper for a caller about to truncate the file
// to size bytes: only that much data is copied (none for O_TRUNC). A
// negative size copies everything.
func (n *node) ensureUpperSize(ctx context.Context, size int64) error {
	_, err := n.ensureUpperFor(ctx, size, false)
	return err
}

// ensureUpperForChange is ensureUpperSize for a change of the entry itself
// (its attributes, size or xattrs). When the copy-up made by this very
// call retires the node (split), the change still goes to the new upper
// copy, whose path it returns (otherwise ""): the caller may hold the node
// by a descriptor opened before (fchmod or fsetxattr of a file opened
// read-only), and the kernel retries only path-based calls after ESTALE.
// So does a change to a node retired before, while it still holds its name
// (retiredPath); one that lost it gets ESTALE, as from ensureUpperSize.
func (n *node) ensureUpperForChange(ctx context.Context, size int64) (retiredAt string, err error) {
	return n.ensureUpperFor(ctx, size, true)
}

func (n *node) ensureUpperFor(ctx context.Context, size int64, change bool) (string, error) {
	if n.u.upper == "" {
		return "", syscall.EROFS
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.ensureUpperLocked(ctx, size); err != nil {
		return "", err
	}
	if !n.split {
		return "", nil
	}
	if change {
		if p := n.retiredPath(); p != "" {
			return p, nil
		}
	}
	return "", syscall.ESTALE // see retireOrAlias
}

// retiredPath is the upper copy's path for a retired (split) node that
// still holds its name, "" once the name has gone to another node (the
// kernel's next lookup of it makes one). The name is checked again after
// the path is made, so a path made while the name moved is not returned.
func (n *node) retiredPath() string {
	if !n.holdsName() {
		return ""
	}
	p := n.u.upperPath(n.rel())
	if !n.holdsName() {
		return ""
	}
	return p
}

// holdsName reports whether the node is still the child its parent has
// under its name.
func (n *node) holdsName() bool {
	name, parent := n.Parent()
	return parent != nil && parent.GetChild(name) == &n.Inode
}

// ensureUpperLocked is ensureUpperSize for a caller that holds n.mu.
//
// Preconditions: n.mu is held; the union has an upper layer.
func (n *node) ensureUpperLocked(ctx context.Context, size int64) error {
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
	src, dst := n.u.lowerPath(n.lower, n.lowerRel), n.u.upperPath(rel)
	var st unix.Stat_t
	if err := unix.Lstat(src, &st); err != nil {
		return fmt.Errorf("stat copy-up source: %w", err)
	}
	// A file hard-linked in the lower layer splits from its other names,
	// so it cannot keep their st_ino (kernel overlayfs reports the upper
	// one then too). Origins go on every non-directory in the trusted
	// namespace; in the user namespace on regular files only: Linux
	// refuses user.* xattrs on symlinks and devices (kernel overlayfs with
	// userxattr has the same limit).
	linked := !isDir(&st) && st.Nlink > 1
	var extra map[string][]byte
	if st.Mode&unix.S_IFMT == unix.S_IFREG && size >= 0 && size < st.Size {
		st.Size = size // copyup copies st.Size bytes
	}
	if !isDir(&st) && !linked {
		name, value := n.u.writer.OriginXattr(n.StableAttr().Ino)
		if name != "" && (st.Mode&unix.S_IFMT == unix.S_IFREG || strings.HasPrefix(name, "trusted.")) {
			extra = map[string][]byte{name: value}
		}
	}
	withOrigin := extra != nil
	var pst unix.Stat_t
	perr := unix.Lstat(filepath.Dir(dst), &pst)
	// A started copy-up runs to the end: the kernel interrupts FUSE
	// requests for any signal, including the Go runtime's SIGURG
	// preemption of the caller, and a half-done copy helps nobody.
	if err := n.u.copier.Copy(context.WithoutCancel(ctx), src, dst, &st, extra); err != nil {
		return fmt.Errorf("copy up %s: %w", rel, err)
	}
	if perr == nil {
		// Copy-up is not a change of the parent: keep its times, as
		// kernel overlayfs does.
		restoreTimes(filepath.Dir(dst), &pst)
	}
	n.upper, n.upperXwh = true, false
	n.copied.Store(true)
	n.retireOrAlias(rel, dst, linked, withOrigin)
	return nil
}

// retireOrAlias runs after the node's copy-up. A lookup of the copied-up
// file now yields a different identity (its Gen is the upper inode); see
// "Passthrough" and "Inode numbers" in the package doc.
//
// If the kernel may still pass the node's lower file through (lowerPT),
// or the file was a lower hard link whose st_ino changes, the node is
// retired (split): every later operation on it returns ESTALE, the kernel
// looks the name up again and gets a new inode, backed by the upper file.
// Otherwise the new identity is aliased to this node, so lookups keep
// finding it.
//
// withOrigin says the copy got the node's inode number as its origin
// xattr, which then need not be read back.
//
// Preconditions: n.mu is held.
func (n *node) retireOrAlias(rel, dst string, linked, withOrigin bool) {
	if isDirMode(n.StableAttr().Mode) {
		return
	}
	e := &entry{upper: true, lower: -1, origin: n.StableAttr().Ino, hasOrigin: withOrigin}
	if unix.Lstat(dst, &e.st) != nil {
		return
	}
	id := n.u.identity(e, rel)
	if id == n.StableAttr() {
		return
	}
	if n.lowerPT || linked {
		n.split = true
		return
	}
	n.u.aliases.Store(id, n.StableAttr())
	n.alias.Store(&id)
}

// restoreTimes sets a directory's atime and mtime back to st's.
func restoreTimes(dir string, st *unix.Stat_t) {
	ts := []unix.Timespec{st.Atim, st.Mtim}
	unix.UtimesNanoAt(unix.AT_FDCWD, dir, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func isDirMode(mode uint32) bool { return mode&unix.S_IFMT == unix.S_IFDIR }

// tempPath returns a fresh name in <work>/work for staging an entry.
func (u *Union) tempPath() string {
	return u.work + "/work/#" + strconv.FormatUint(u.tmpSeq.Add(1), 36) + "-" + strconv.Itoa(os.Getpid())
}

// publish makes a new upper entry called name in dir (an upper directory),
// built by make, which must fail with EEXIST if the name exists. If a
// whiteout occupies the name it is replaced atomically: the entry is built
// in the work directory and renamed (or, for directories, exchanged) over
// it, so the lower entry never shows through, even after a crash. Returns
// the final path.
func (u *Union) publish(dir, name string, mk func(path string) error) (string, error) {
	dst := dir + "/" + name
	err := mk(dst)
	if err == nil {
		return dst, whiteout.RemoveMarker(dir, name)
	}
	if !errors.Is(err, unix.EEXIST) {
		return "", err
	}
	// Only a whiteout may be replaced. A real entry here means the upper
	// changed behind the mount: refuse rather than lose it.
	var occ unix.Stat_t
	if s, err := whiteout.Lookup(dir, name, true, &occ); err != nil || s != whiteout.WhitedOut {
		return "", syscall.EEXIST
	}
	if err := unix.Lstat(dst, &occ); err != nil {
		return "", err
	}
	tmp, unstage, err := u.stagePath(dir)
	if err != nil {
		return "", err
	}
	defer unstage()
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
	return dst, whiteout.RemoveMarker(dir, name)
}

// stagePath returns a path in the work directory to build an entry that
// will replace a whiteout in the upper directory dir, and a function that
// removes what is left of the staging afterwards. If dir has a default
// ACL (and ACLs are on), the entry is staged in a private directory that
// carries the same default ACL, so that it inherits what it would have
// inherited in dir (kernel overlayfs applies dir's ACLs to the entries it
// stages the same way).
func (u *Union) stagePath(dir string) (string, func(), error) {
	tmp := u.tempPath()
	if !u.opts.acl {
		return tmp, func() {}, nil
	}
	acl, err := copyup.GetXattr(dir, aclDefault)
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.EOPNOTSUPP) || err == nil && len(acl) == 0 {
		return tmp, func() {}, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("stage entry: %w", err)
	}
	if err := unix.Mkdir(tmp, 0o700); err != nil {
		return "", nil, fmt.Errorf("stage entry: %w", err)
	}
	unstage := func() { os.RemoveAll(tmp) }
	if err := unix.Lsetxattr(tmp, aclDefault, acl, 0); err != nil {
		unstage()
		return "", nil, fmt.Errorf("stage entry: set default ACL: %w", err)
	}
	return tmp + "/e", unstage, nil
}

// owner returns the host uid and gid a new entry made by the caller gets,
// and whether it inherits the setgid bit of its parent directory.
func (u *Union) owner(ctx context.Context, parentDir string) (uid, gid int, setgid bool) {
	uid, gid = u.euid, u.egid
	if c, ok := fuse.FromContext(ctx); ok {
		uid, gid = int(u.opts.uidMap.ToHost(c.Uid)), int(u.opts.gidMap.ToHost(c.Gid))
	}
	var st unix.Stat_t
	if unix.Stat(parentDir, &st) == nil && st.Mode&unix.S_ISGID != 0 {
		gid, setgid = int(st.Gid), true
	}
	return uid, gid, setgid
}

// chownNew gives a new entry its owner, and mode's setuid, setgid and
// sticky bits (which mkdir and mknod drop or the chown clears) unless it is
// a symlink. It checks the entry rather than assuming what the parent
// passed on: an entry staged in the work directory (over a whiteout) did
// not inherit the group and setgid bit of a setgid parent.
func chownNew(path string, uid, gid int, mode uint32, symlink bool) error {
	return fixOwner(unix.AT_FDCWD, path, uid, gid, mode, symlink)
}

// fixOwner is chownNew on the entry name in the directory dirfd, or on
// dirfd itself, a descriptor on the new entry, when name is "".
func fixOwner(dirfd int, name string, uid, gid int, mode uint32, symlink bool) error {
	at := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		at = unix.AT_EMPTY_PATH
	}
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, at); err != nil {
		return fmt.Errorf("stat new entry: %w", err)
	}
	if int(st.Uid) != uid || int(st.Gid) != gid {
		if err := unix.Fchownat(dirfd, name, uid, gid, at); err != nil && err != unix.EPERM {
			return fmt.Errorf("chown new entry: %w", err)
		}
		st.Mode &^= unix.S_ISUID | unix.S_ISGID
	}
	// The permission bits stay as made: the parent's default ACL may
	// have narrowed them.
	want := st.Mode&0o777 | mode&(unix.S_ISUID|unix.S_ISGID|unix.S_ISVTX)
	if !symlink && mode&(unix.S_ISUID|unix.S_ISGID|unix.S_ISVTX) != 0 && st.Mode&07777 != want {
		var err error
		if name == "" {
			err = unix.Fchmod(dirfd, want)
		} else {
			err = unix.Fchmodat(dirfd, name, want, 0)
		}
		if err != nil {
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
	var st unix.Stat_t
	for _, d := range n.dirLayers().dirs {
		s, err := whiteout.Lookup(n.u.lowerPath(d.idx, d.rel), name, d.xwh, &st)
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

// errno converts an internal error at the FUSE boundary: the errno it
// wraps, EINTR for an interrupted request, EIO for anything else.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	case errors.Is(err, whiteout.ErrBadName):
		return syscall.EINVAL
	}
	return syscall.EIO
}
