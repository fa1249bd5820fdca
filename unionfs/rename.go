package unionfs

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
)

var _ = (fs.NodeRenamer)((*node)(nil))

// Rename moves an entry, as kernel overlayfs does: files (copied up first)
// and upper-only directories move; a directory that exists in a lower
// layer gets EXDEV, so tools fall back to copying, unless redirect_dir=on:
// then it is copied up (empty) and moved with a redirect to its lower
// copies (see "Redirects" in the package doc). RENAME_NOREPLACE is
// honoured; RENAME_EXCHANGE and RENAME_WHITEOUT are not supported
// (EINVAL).
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	return errno(n.rename(ctx, name, newParent, newName, flags))
}

func (n *node) rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) error {
	if n.u.upper == "" {
		return syscall.EROFS
	}
	if flags&^unix.RENAME_NOREPLACE != 0 {
		return syscall.EINVAL
	}
	if err := checkNewName(newName); err != nil {
		return err
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	srcDirRel, dstDirRel := n.rel(), np.rel()
	se, err := n.find(srcDirRel, name)
	if err != nil {
		return err
	}
	srcIsDir := isDir(&se.st)
	redirect := "" // for a directory with lower copies: where they are
	if srcIsDir && len(se.dirs) > 0 {
		if n.u.opts.redirect != RedirectOn {
			return syscall.EXDEV
		}
		redirect = "/" + strings.TrimPrefix(se.dirs[0].rel, "/")
	}
	de, err := np.find(dstDirRel, newName)
	if err != nil && err != syscall.ENOENT {
		return err
	}
	if de != nil {
		if err := checkReplace(np, dstDirRel, newName, flags, srcIsDir, de); err != nil {
			return err
		}
		if srcDirRel == dstDirRel && name == newName {
			return nil
		}
	}
	chIn := n.GetChild(name)
	if chIn == nil {
		return syscall.ENOENT
	}
	ch := chIn.Operations().(*node)
	if err := ch.ensureUpper(ctx); err != nil {
		return err
	}
	if err := np.ensureUpper(ctx); err != nil {
		return err
	}
	srcLowerHas, err := n.lowerHas(srcDirRel, name)
	if err != nil {
		return err
	}
	dstLowerHas, err := np.lowerHas(dstDirRel, newName)
	if err != nil {
		return err
	}
	// Requests that hold the node's lock (open, setattr, xattrs) see the
	// entry either before the move or, through setMove, after it.
	ch.mu.Lock()
	defer ch.mu.Unlock()
	srcDir, dstDir := n.u.upperPath(srcDirRel), n.u.upperPath(dstDirRel)
	src, dst := srcDir+"/"+name, dstDir+"/"+newName
	var displaced *node
	held := -1
	if d := np.childNode(newName); d != nil && d != ch && de != nil {
		displaced = d
		displaced.mu.Lock()
		held = displaced.holdRemoved(join(dstDirRel, newName), de)
		displaced.mu.Unlock()
	}
	defer func() {
		if held >= 0 {
			unix.Close(held)
		}
	}()
	moved := ""
	if srcIsDir {
		// Clear the way: an upper target directory (holding only
		// whiteouts) or a whiteout occupying the name.
		var occ unix.Stat_t
		if unix.Lstat(dst, &occ) == nil {
			moved = n.u.tempPath()
			if err := unix.Rename(dst, moved); err != nil {
				return err
			}
		}
		switch {
		case redirect != "":
			// The redirect takes the lookups below away from the
			// new name, whatever the lower layers have there.
			if err := n.u.writer.SetRedirect(src, redirect); err != nil {
				if errors.Is(err, whiteout.ErrRedirectUnsupported) {
					err = syscall.EXDEV
				}
				if moved != "" {
					unix.Rename(moved, dst)
				}
				return err
			}
		case dstLowerHas:
			if err := n.u.writer.SetOpaque(src); err != nil {
				return err
			}
		}
	}
	if srcLowerHas {
		err = n.u.writer.RenameWhiteout(src, dst)
	} else {
		err = unix.Rename(src, dst)
	}
	if err != nil {
		if moved != "" {
			unix.Rename(moved, dst)
		}
		return err
	}
	if displaced != nil {
		// The replaced entry is removed: as in remove.
		displaced.mu.Lock()
		displaced.setMove(&move{from: np.EmbeddedInode(), fromName: newName})
		displaced.keepGone(de, held)
		displaced.mu.Unlock()
		held = -1
	}
	ch.setMove(&move{from: n.EmbeddedInode(), fromName: name, to: np.EmbeddedInode(), toName: newName})
	if moved != "" {
		if err := os.RemoveAll(moved); err != nil {
			return err
		}
	}
	return n.u.writer.Remove(dstDir, newName)
}

// checkReplace applies rename(2)'s rules for an existing target.
func checkReplace(np *node, dstDirRel, newName string, flags uint32, srcIsDir bool, de *entry) error {
	if flags&unix.RENAME_NOREPLACE != 0 {
		return syscall.EEXIST
	}
	if !isDir(&de.st) {
		if srcIsDir {
			return syscall.ENOTDIR
		}
		return nil
	}
	if !srcIsDir {
		return syscall.EISDIR
	}
	t := &node{u: np.u, upper: de.upper, upperXwh: de.upperXwh, lower: de.lower, lowerRel: de.lowerRel, dirs: de.dirs}
	ents, err := t.listAt(join(dstDirRel, newName))
	if err != nil {
		return err
	}
	if len(ents) > 0 {
		return syscall.ENOTEMPTY
	}
	return nil
}
