package unionfs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
)

// mergedDir lists the directory as the union shows it: upper first, then
// each merged lower; a name appears once, from its topmost layer; names a
// layer whites out are hidden in the layers below it.
func (n *node) mergedDir() ([]fuse.DirEntry, error) { return n.listAt(n.rel()) }

// listAt is mergedDir for a node whose path is rel.
func (n *node) listAt(rel string) ([]fuse.DirEntry, error) {
	upper, upperXwh, dirs := n.dirLayers()
	var out []fuse.DirEntry
	seen := map[string]struct{}{}
	hidden := map[string]struct{}{}
	add := func(path string, layer int, xwh bool) error {
		ents, wh, err := whiteout.ReadDir(path, xwh)
		if err != nil {
			return err
		}
		for _, d := range ents {
			if _, ok := seen[d.Name]; ok {
				continue
			}
			if _, ok := hidden[d.Name]; ok {
				continue
			}
			seen[d.Name] = struct{}{}
			out = append(out, fuse.DirEntry{Name: d.Name, Mode: d.Mode(), Ino: n.direntIno(layer, d)})
		}
		for name := range wh {
			hidden[name] = struct{}{}
		}
		return nil
	}
	if upper {
		if err := add(n.u.upperPath(rel), 0, upperXwh); err != nil {
			return nil, err
		}
	}
	for _, d := range dirs {
		if err := add(n.u.lowerPath(d.idx, rel), d.idx+1, d.xwh); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// direntIno is the inode number readdir reports. It matches st_ino except
// for copied-up files and lower hard links, whose numbers need a lookup;
// readdirplus, which the kernel uses by default, carries the looked-up one.
func (n *node) direntIno(layer int, d whiteout.Dirent) uint64 {
	st := unix.Stat_t{Ino: d.Ino, Nlink: 1, Mode: d.Mode()}
	return n.u.ino.ino(layer, &st, "")
}

var _ = (fs.NodeOpendirHandler)((*node)(nil))

// OpendirHandle snapshots the merged listing, so offsets stay stable for
// the life of the handle, and lets the kernel cache it.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ents, err := n.mergedDir()
	if err != nil {
		return nil, 0, errno(err)
	}
	self := n.StableAttr().Ino
	parent := self
	if _, p := n.Parent(); p != nil {
		parent = p.StableAttr().Ino
	}
	all := make([]fuse.DirEntry, 0, len(ents)+2)
	all = append(all,
		fuse.DirEntry{Name: ".", Mode: unix.S_IFDIR, Ino: self},
		fuse.DirEntry{Name: "..", Mode: unix.S_IFDIR, Ino: parent})
	all = append(all, ents...)
	for i := range all {
		all[i].Off = uint64(i + 1)
	}
	return &dirHandle{n: n, ents: all}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// dirHandle is an open directory: a fixed listing and a cursor. go-fuse
// serialises calls on one handle.
type dirHandle struct {
	n    *node
	ents []fuse.DirEntry
	pos  int
}

var (
	_ = (fs.FileReaddirenter)((*dirHandle)(nil))
	_ = (fs.FileSeekdirer)((*dirHandle)(nil))
	_ = (fs.FileFsyncdirer)((*dirHandle)(nil))
)

// Readdirent returns the next entry, or nil at the end.
func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if d.pos >= len(d.ents) {
		return nil, 0
	}
	e := d.ents[d.pos]
	d.pos++
	return &e, 0
}

// Seekdir moves the cursor; an offset is the index after an entry.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off > uint64(len(d.ents)) {
		off = uint64(len(d.ents))
	}
	d.pos = int(off)
	return 0
}

// Fsyncdir syncs the upper directory, if the directory has one.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	if upper, _ := d.n.state(); !upper {
		return 0
	}
	fd, err := unix.Open(d.n.u.upperPath(d.n.rel()), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(fd)
	return errno(unix.Fsync(fd))
}
