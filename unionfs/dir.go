package unionfs

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/copyup"
	"github.com/lamina-dev/lamina/whiteout"
)

// mergedDir lists the directory for a reader, in listing order with
// cookies (withCookies): in a directory without an upper copy, the listing
// read ahead when there is one; and it has the directories the listing
// names read ahead (dirahead.go). walked says a walk reached the
// directory: its listing was read ahead, or it is the next of its
// parent's directories after the one the walk listed last (readAhead).
func (n *node) mergedDir() (ents []fuse.DirEntry, walked bool, err error) {
	rel := n.rel()
	ls := n.dirLayers()
	if !ls.upper {
		ents, walked = n.u.ahead.listing(rel, ls.dirs)
	}
	if !walked {
		if ents, err = n.u.list(rel, ls); err != nil {
			return nil, false, err
		}
	}
	ents = withCookies(ents)
	if n.u.readAhead(rel, ls, ents) {
		walked = true
	}
	return ents, walked, nil
}

// listAt lists the directory as the union shows it; rel is its path.
func (n *node) listAt(rel string) ([]fuse.DirEntry, error) { return n.u.list(rel, n.dirLayers()) }

// list lists the directory rel whose layers are ls as the union shows it.
func (u *Union) list(rel string, ls layerSet) ([]fuse.DirEntry, error) {
	var out []fuse.DirEntry
	err := u.merge(rel, ls, func(layer int, d whiteout.Dirent) {
		out = append(out, fuse.DirEntry{Name: d.Name, Mode: d.Mode(), Ino: u.direntIno(rel, layer, d, ls)})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// merge calls fn with each entry the union shows in the directory rel
// whose layers are ls, and the layer it comes from (0 upper, i+1 lower
// i): upper first, then each merged lower; a name appears once, from its
// topmost layer; names a layer whites out are hidden in the layers below
// it.
func (u *Union) merge(rel string, ls layerSet, fn func(layer int, d whiteout.Dirent)) error {
	seen := map[string]struct{}{}
	hidden := map[string]struct{}{}
	add := func(path string, layer int, xwh bool) error {
		read := readLowerDir
		if layer == 0 {
			read = whiteout.ReadDir // the upper: its atime changes, as on the kernel
		}
		ents, wh, err := read(path, xwh)
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
			fn(layer, d)
		}
		for name := range wh {
			hidden[name] = struct{}{}
		}
		return nil
	}
	if ls.upper {
		if err := add(u.upperPath(rel), 0, ls.upperXwh); err != nil {
			return err
		}
	}
	for _, d := range ls.dirs {
		if err := add(u.lowerPath(d.idx, d.rel), d.idx+1, d.xwh); err != nil {
			return err
		}
	}
	return nil
}

// readLowerDir is whiteout.ReadDir on a directory of a lower layer, opened
// with O_NOATIME where the daemon may (copyup.OpenLayerFile).
func readLowerDir(path string, xwh bool) ([]whiteout.Dirent, map[string]struct{}, error) {
	fd, err := copyup.OpenLayerFile(path, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, nil, fmt.Errorf("read dir: %w", err)
	}
	defer unix.Close(fd)
	return whiteout.ReadDirFd(fd, path, xwh)
}

// direntIno is the inode number readdir reports for d, found in layer
// under the directory rel whose layers are ls. It is the st_ino a lookup
// gives (see "Inode numbers" in the package doc): the kernel puts it in
// d_ino even with readdirplus. Upper entries need more than the dirent: a
// non-directory may carry the origin of a copy-up (up to two getxattr
// calls, trusted then user), and a directory of a merged directory takes
// its number from the lower one (a lookup through the layers). Lower
// entries need nothing more, so listing a lower tree costs no extra system
// call.
func (u *Union) direntIno(rel string, layer int, d whiteout.Dirent, ls layerSet) uint64 {
	path := join(rel, d.Name)
	st := unix.Stat_t{Ino: d.Ino, Nlink: 1, Mode: d.Mode()}
	if layer == 0 {
		switch {
		case d.Type != unix.DT_DIR:
			if ino, ok := whiteout.Origin(u.upperPath(path)); ok {
				return ino
			}
		case len(ls.dirs) > 0:
			if e, err := u.find(rel, d.Name, ls, nil); err == nil {
				return u.identity(e, path).Ino
			}
		}
	}
	return u.ino.ino(layer, &st, join(ls.relIn(layer, rel), d.Name))
}

var _ = (fs.NodeOpendirHandler)((*node)(nil))

// OpendirHandle snapshots the merged listing, so offsets stay stable for
// the life of the handle, and lets the kernel cache it.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	ents, walked, err := n.mergedDir()
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
		fuse.DirEntry{Name: ".", Mode: unix.S_IFDIR, Ino: self, Off: 1},
		fuse.DirEntry{Name: "..", Mode: unix.S_IFDIR, Ino: parent, Off: 2})
	all = append(all, ents...)
	d := &dirHandle{n: n, ents: all, walked: walked, looked0: n.looked.Load()}
	return d, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// withCookies gives every entry its cookie as offset and orders the
// listing by it. A cookie is a hash of the name, the same in every listing
// of the directory (as ext4's), so an offset means "after this name" in a
// listing made later too: a reader, or the kernel's listing cache, that
// resumes after the directory changed neither skips nor repeats the
// entries that stayed. The rare equal hashes are told apart by adding one,
// in name order.
func withCookies(ents []fuse.DirEntry) []fuse.DirEntry {
	for i := range ents {
		ents[i].Off = dirCookie(ents[i].Name)
	}
	return orderByOffset(ents)
}

// orderByOffset sorts ents by offset, then name, and moves an offset equal
// to (or below) the one before it up to the next free value.
func orderByOffset(ents []fuse.DirEntry) []fuse.DirEntry {
	slices.SortFunc(ents, func(a, b fuse.DirEntry) int {
		if c := cmp.Compare(a.Off, b.Off); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for i := 1; i < len(ents); i++ {
		if ents[i].Off <= ents[i-1].Off {
			ents[i].Off = ents[i-1].Off + 1
		}
	}
	return ents
}

// sortListingOrder sorts names as a listing orders them: by cookie, then
// name (see withCookies).
func sortListingOrder(names []string) {
	slices.SortFunc(names, func(x, y string) int {
		return cmp.Or(cmp.Compare(dirCookie(x), dirCookie(y)), strings.Compare(x, y))
	})
}

// dirCookie hashes name (FNV-1a) into [3, 2^31): above the offsets of "."
// and "..", and within a 32-bit off_t, which glibc's readdir in a 32-bit
// program needs (it fails with EOVERFLOW on a larger d_off; ext4 gives
// such programs 31-bit hashes for the same reason).
func dirCookie(name string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(name); i++ {
		h ^= uint64(name[i])
		h *= 1099511628211
	}
	return max(h>>33, 3)
}

// dirHandle is an open directory: a fixed listing and a cursor. go-fuse
// serialises calls on one handle.
type dirHandle struct {
	n       *node
	ents    []fuse.DirEntry
	pos     int
	fds     dirFds // for the lookups of READDIRPLUS
	batched int    // ents[:batched] had their READDIRPLUS policy chosen

	// READDIRPLUS policy (readdirplus.go)
	plus    bool   // the current batch gets attributes
	walked  bool   // a walk reached the directory
	bare    int    // entries given without attributes
	looked0 uint32 // n.looked when the handle was opened
}

var (
	_ = (fs.FileReaddirenter)((*dirHandle)(nil))
	_ = (fs.FileLookuper)((*dirHandle)(nil))
	_ = (fs.FileReleasedirer)((*dirHandle)(nil))
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

// Lookup looks up an entry READDIRPLUS returns, as the node's Lookup
// does, resolving names from the handle's directory descriptors; or
// declines (errBare), leaving the entry without attributes, when the
// READDIRPLUS policy says so (readdirplus.go).
func (d *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if at := d.pos - 1; at >= d.batched {
		d.batched = min(len(d.ents), at+aheadBatch)
		if d.plusBatch() {
			d.n.lookupAll(d.ents[at:d.batched])
		}
	}
	if !d.plus {
		d.bare++
		d.n.u.plusBare.Add(1)
		return nil, errBare
	}
	d.n.u.plusFull.Add(1)
	return d.n.lookupAt(ctx, name, out, &d.fds)
}

// Releasedir closes the handle's directory descriptors.
func (d *dirHandle) Releasedir(ctx context.Context, flags uint32) { d.fds.close() }

// Seekdir moves the cursor after the entry whose offset is off: to the
// first entry with a greater offset, whether or not off's entry is still
// in this listing.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == math.MaxUint64 {
		d.pos = len(d.ents)
		return 0
	}
	d.pos, _ = slices.BinarySearchFunc(d.ents, off+1, func(e fuse.DirEntry, t uint64) int {
		return cmp.Compare(e.Off, t)
	})
	return 0
}

// Fsyncdir syncs the upper directory, if the directory has one.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return d.n.fsyncDir()
}

var _ = (fs.NodeFsyncer)((*node)(nil))

// Fsync syncs an open file through its handle, and a directory, which the
// kernel reads without opening it (see dirless), through its upper
// directory.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if fh, ok := f.(fs.FileFsyncer); ok {
		return fh.Fsync(ctx, flags)
	}
	if n.IsDir() {
		return n.fsyncDir()
	}
	return syscall.ENOTSUP
}

// fsyncDir syncs the upper directory, if the directory has one.
func (n *node) fsyncDir() syscall.Errno {
	if upper, _ := n.state(); !upper {
		return 0
	}
	fd, err := unix.Open(n.u.upperPath(n.rel()), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return errno(err)
	}
	defer unix.Close(fd)
	return errno(unix.Fsync(fd))
}
