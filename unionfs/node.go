package unionfs

import (
	"cmp"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
)

// node is one union inode. See "Nodes" in the package doc.
type node struct {
	fs.Inode
	u *Union

	mu       sync.Mutex   // guards the fields below and serialises copy-up
	upper    bool         // the entry exists in the upper layer
	upperXwh bool         // the upper directory may hold xwhiteouts
	lower    int          // topmost lower holding the entry, -1 if none
	lowerRel string       // the entry's path in lower: its own unless a redirect says otherwise; immutable
	dirs     []lowerDir   // directories: merged lower layers, top first
	lowerPT  bool         // a lower file was handed to the kernel to pass through
	split    bool         // retired by copy-up; the kernel must look up again
	gone     *unix.Stat_t // set once removed: the last attributes (keepGone)

	moved  atomic.Pointer[move] // a rename or remove go-fuse has not recorded yet (pending.go)
	goneFd atomic.Int32         // the removed file, kept open (holdRemoved, tmpfile.go); 0 if none

	copied atomic.Bool                   // copied up during this mount (read without mu on the data path)
	alias  atomic.Pointer[fs.StableAttr] // the copied-up identity aliased to this node (retireOrAlias)
	looked atomic.Uint32                 // LOOKUPs in this directory (the READDIRPLUS policy, readdirplus.go)
	opens  atomic.Int32                  // file handles open on the node (holdRemoved)
}

// lowerDir is one lower layer merged into a directory.
type lowerDir struct {
	idx int    // index into Union.lowers
	xwh bool   // may hold kernel xwhiteouts
	rel string // the directory's path in that layer (see "Redirects" in the package doc)
}

// entry is what a lookup found: a node's layer fields plus the topmost
// entry's stat.
type entry struct {
	upper    bool
	upperXwh bool
	lower    int
	lowerRel string // path in lower
	dirs     []lowerDir
	st       unix.Stat_t
	layer    int  // layer number of the topmost entry (0 = upper)
	fresh    bool // just created by this daemon: no origin to read
	// origin is the origin this daemon has just given the upper file
	// (copy-up), when hasOrigin: no need to read it back.
	origin    uint64
	hasOrigin bool
}

// state returns a snapshot of the node's layer fields.
func (n *node) state() (upper bool, lower int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.upper, n.lower
}

// realPath is where the topmost entry lives now. A node retired by copy-up
// (split) reads its upper copy while it still holds its name (retiredPath:
// fstat, fgetxattr through a descriptor opened before the copy-up see the
// copy, as on kernel overlayfs); once the name has gone to another node it
// has no path of its own: ESTALE makes the kernel look the name up again.
func (n *node) realPath() (string, error) {
	n.mu.Lock()
	upper, lower, split := n.upper, n.lower, n.split
	n.mu.Unlock()
	if split {
		if p := n.retiredPath(); p != "" {
			return p, nil
		}
		return "", syscall.ESTALE
	}
	if upper {
		return n.u.upperPath(n.rel()), nil
	}
	return n.u.lowerPath(lower, n.lowerRel), nil
}

// xattrPath is where the xattr calls reach the topmost entry: its path,
// not to be followed; or, for an entry removed while open, the removed
// file through /proc/self/fd, to be followed (removedFd).
func (n *node) xattrPath() (p string, follow bool, err error) {
	n.mu.Lock()
	fd := n.removedFd()
	orphan := n.orphaned()
	n.mu.Unlock()
	if fd >= 0 {
		return procFd(fd), true, nil
	}
	if orphan {
		return "", false, errNoXattrs
	}
	p, err = n.realPath()
	return p, false, err
}

// errNoXattrs says the node was removed while open and the daemon holds
// no descriptor on it (a fifo, socket or device: their opens never reach
// the daemon), so its extended attributes are out of reach. Reads answer
// that it has none: the kernel asks for the ACL of such a node when a
// process reopens it through /proc/PID/fd, and an error would fail the
// open, which kernel overlayfs lets through.
var errNoXattrs = errors.New("removed entry: no extended attributes")

// lstatSettled is lstat of the node's path under its lock: after any
// rename or remove of the entry in progress (they hold the lock across the
// change; pending.go). A different file type there means the entry is
// gone: ENOENT.
func (n *node) lstatSettled(st *unix.Stat_t) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.split {
		return syscall.ESTALE
	}
	var p string
	if n.upper {
		p = n.u.upperPath(n.rel())
	} else {
		p = n.u.lowerPath(n.lower, n.lowerRel)
	}
	if err := unix.Lstat(p, st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != n.StableAttr().Mode {
		return syscall.ENOENT
	}
	return nil
}

// layerSet is where a directory's entries come from.
type layerSet struct {
	upper    bool       // the directory has an upper copy
	upperXwh bool       // which may hold xwhiteouts
	dirs     []lowerDir // its merged lower copies, top first
}

// relIn is the path in layer (0 upper, i+1 lower i) of the directory
// whose union path is rel and whose layers are ls.
func (ls layerSet) relIn(layer int, rel string) string {
	for _, d := range ls.dirs {
		if d.idx+1 == layer {
			return d.rel
		}
	}
	return rel
}

// dirLayers returns the layers to search below this directory.
func (n *node) dirLayers() layerSet {
	n.mu.Lock()
	defer n.mu.Unlock()
	return layerSet{upper: n.upper, upperXwh: n.upperXwh, dirs: n.dirs}
}

// find looks name up in this directory's layers; dirRel is n.rel().
func (n *node) find(dirRel, name string) (*entry, error) {
	return n.u.find(dirRel, name, n.dirLayers(), nil)
}

// find looks name up in the directory dirRel whose layers are ls,
// resolving names from the directory descriptors in fds (nil: through
// paths).
func (u *Union) find(dirRel, name string, ls layerSet, fds *dirFds) (*entry, error) {
	if whiteout.IsMarkerName(name) {
		return nil, syscall.ENOENT
	}
	if len(name) > 255 {
		return nil, syscall.ENAMETOOLONG
	}
	e := &entry{lower: -1, layer: -1}
	found := false
	redirect := "" // where the entry's lower copies are, if not at name
	if ls.upper {
		dir := u.upperPath(dirRel)
		state, err := whiteout.LookupAt(fds.at(0, dir), dir, name, ls.upperXwh, &e.st)
		if err != nil {
			return nil, err
		}
		switch state {
		case whiteout.WhitedOut:
			return nil, syscall.ENOENT
		case whiteout.Present:
			found, e.upper, e.layer = true, true, 0
			if !isDir(&e.st) {
				return e, nil
			}
			info, err := whiteout.InspectAt(fds.at(0, dir), dir, name)
			if err != nil {
				return nil, err
			}
			e.upperXwh = info.XWhiteouts
			if info.Opaque {
				return e, nil
			}
			if redirect, err = u.redirectOf(info); err != nil {
				return nil, err
			}
		}
	}
	if abs, ok := strings.CutPrefix(redirect, "/"); ok {
		return u.findRedirected(e, found, abs, -1)
	}
	var st unix.Stat_t
	look := cmp.Or(redirect, name) // the name to look up in ls.dirs
	for _, d := range ls.dirs {
		dir := u.lowerPath(d.idx, d.rel)
		fd := fds.at(d.idx+1, dir)
		state, err := whiteout.LookupAt(fd, dir, look, d.xwh, &st)
		if err != nil {
			return nil, err
		}
		if state == whiteout.WhitedOut {
			break
		}
		if state == whiteout.Absent {
			continue
		}
		stop, r, err := u.addLower(e, found, d.idx, join(d.rel, look), &st, func() (whiteout.DirInfo, error) {
			return whiteout.InspectAt(fd, dir, look)
		})
		if err != nil {
			return nil, err
		}
		found = true
		if stop {
			break
		}
		if r != "" {
			if abs, ok := strings.CutPrefix(r, "/"); ok {
				return u.findRedirected(e, found, abs, d.idx)
			}
			look = r
		}
	}
	if !found {
		return nil, syscall.ENOENT
	}
	return e, nil
}

// addLower adds to e what lower idx has at rel, whose lstat is st: the
// topmost entry if none was found above, a directory to merge. It reports
// whether the layers below are hidden (by a non-directory, or an opaque
// directory) and, for a directory, the redirect to follow below it.
// inspect reads the directory's markers.
func (u *Union) addLower(e *entry, found bool, idx int, rel string, st *unix.Stat_t, inspect func() (whiteout.DirInfo, error)) (stop bool, redirect string, err error) {
	if found && !isDir(st) {
		return true, "", nil // a directory above hides a non-directory below
	}
	if !found {
		e.st, e.layer = *st, idx+1
	}
	if e.lower < 0 {
		e.lower, e.lowerRel = idx, rel
	}
	if !isDir(st) {
		return true, "", nil
	}
	info, err := inspect()
	if err != nil {
		return false, "", err
	}
	e.dirs = append(e.dirs, lowerDir{idx: idx, xwh: info.XWhiteouts, rel: rel})
	if info.Opaque {
		return true, "", nil
	}
	redirect, err = u.redirectOf(info)
	return false, redirect, err
}

// redirectOf is the redirect to follow below a directory with markers
// info: none unless the union follows redirects. An invalid redirect is an
// error (EINVAL) either way, as kernel overlayfs refuses to look such a
// directory up with redirect_dir=nofollow too.
func (u *Union) redirectOf(info whiteout.DirInfo) (string, error) {
	if info.RedirectErr != nil {
		return "", info.RedirectErr
	}
	if !u.opts.redirect.follows() {
		return "", nil
	}
	return info.Redirect, nil
}

// findRedirected goes on with the lookup of e below lower above (-1: the
// upper) through the absolute redirect abs ("a/b", from the layers' roots),
// in every lower layer below. Each component but the last must be a
// directory: the search stops at a whiteout or another file there, and
// takes no layer below one where a component is opaque. Redirects of those
// components are not followed (kernel overlayfs follows them; only a union
// that renamed a directory inside one renamed in an earlier union of these
// layers writes them).
func (u *Union) findRedirected(e *entry, found bool, abs string, above int) (*entry, error) {
	var st unix.Stat_t
	for idx := above + 1; idx < len(u.lowers); idx++ {
		parent, last := splitRel(abs)
		state, info, err := u.walkDirs(idx, parent)
		if err != nil {
			return nil, err
		}
		if state == whiteout.WhitedOut {
			break
		}
		if state == whiteout.Absent {
			continue
		}
		dir := u.lowerPath(idx, parent)
		if state, err = whiteout.LookupAt(-1, dir, last, info.XWhiteouts, &st); err != nil {
			return nil, err
		}
		if state == whiteout.WhitedOut {
			break
		}
		if state == whiteout.Present {
			stop, r, err := u.addLower(e, found, idx, abs, &st, func() (whiteout.DirInfo, error) {
				return whiteout.InspectAt(-1, dir, last)
			})
			if err != nil {
				return nil, err
			}
			found = true
			if stop {
				break
			}
			if r != "" {
				if next, ok := strings.CutPrefix(r, "/"); ok {
					abs = next
				} else {
					abs = join(parent, r)
				}
			}
		}
		if info.Opaque {
			break
		}
	}
	if !found {
		return nil, syscall.ENOENT
	}
	return e, nil
}

// walkDirs resolves rel ("" or "a/b") in lower idx one component at a
// time, none followed: Present with the markers of the directory it names
// (Opaque if any component is opaque), Absent if a component is missing,
// WhitedOut if one is a whiteout or not a directory, which hides every
// layer below.
func (u *Union) walkDirs(idx int, rel string) (whiteout.State, whiteout.DirInfo, error) {
	dir := u.lowers[idx]
	info, err := whiteout.Inspect(dir)
	if err != nil {
		return whiteout.Absent, info, err
	}
	opaque := false
	for c := range strings.SplitSeq(rel, "/") {
		if c == "" {
			continue
		}
		var st unix.Stat_t
		state, err := whiteout.LookupAt(-1, dir, c, info.XWhiteouts, &st)
		switch {
		case err != nil:
			return whiteout.Absent, info, err
		case state != whiteout.Present:
			return state, info, nil
		case !isDir(&st):
			return whiteout.WhitedOut, info, nil
		}
		opaque = opaque || info.Opaque
		if info, err = whiteout.InspectAt(-1, dir, c); err != nil {
			return whiteout.Absent, info, err
		}
		dir = join(dir, c)
	}
	info.Opaque = info.Opaque || opaque
	return whiteout.Present, info, nil
}

// splitRel splits "a/b/c" into "a/b" and "c", "c" into "" and "c".
func splitRel(rel string) (dir, name string) {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i], rel[i+1:]
	}
	return "", rel
}

// identity returns the go-fuse identity of a found entry: Ino is st_ino,
// and Gen tells apart inodes that share one (see "Inode numbers" in the
// package doc).
func (u *Union) identity(e *entry, rel string) fs.StableAttr {
	id := fs.StableAttr{Mode: e.st.Mode & unix.S_IFMT}
	switch {
	case e.upper && !isDir(&e.st):
		if ino, ok := originOf(u, e, rel); ok {
			id.Ino, id.Gen = ino, e.st.Ino
		} else {
			id.Ino = u.ino.ino(0, &e.st, rel)
		}
	case e.layer == 0 && isDir(&e.st) && len(e.dirs) > 0:
		var st unix.Stat_t
		id.Ino = u.ino.ino(0, &e.st, rel)
		if err := unix.Lstat(u.lowerPath(e.dirs[0].idx, e.dirs[0].rel), &st); err == nil {
			id.Ino = u.ino.ino(e.dirs[0].idx+1, &st, e.dirs[0].rel)
		}
	default:
		if e.layer > 0 {
			rel = e.lowerRel // the topmost entry is the lower one
		}
		id.Ino = u.ino.ino(e.layer, &e.st, rel)
		if !isDir(&e.st) && e.st.Nlink > 1 {
			id.Gen = linkGen(e.layer, e.st.Ino, rel)
		}
	}
	if alias, ok := u.aliases.Load(id); ok {
		return alias.(fs.StableAttr) // copied up in this mount: the live node
	}
	return id
}

// newChild makes (or finds) the inode for a found entry at rel and fills
// out.
func (n *node) newChild(ctx context.Context, rel string, e *entry, out *fuse.EntryOut) *fs.Inode {
	id := n.u.identity(e, rel)
	ch := &node{u: n.u, upper: e.upper, upperXwh: e.upperXwh, lower: e.lower, lowerRel: e.lowerRel, dirs: e.dirs}
	in := n.NewInode(ctx, ch, id)
	if got, ok := in.Operations().(*node); ok && got != ch {
		got.refresh(e)
	}
	n.u.fillAttr(&e.st, &out.Attr, e)
	out.Attr.Ino = id.Ino
	return in
}

// refresh updates an existing node from a fresh lookup of the same inode.
func (n *node) refresh(e *entry) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.upper {
		n.upper = true
		n.upperXwh = e.upperXwh
	}
	if isDir(&e.st) {
		n.dirs = e.dirs
	}
}

var _ = (fs.NodeLookuper)((*node)(nil))

// Lookup finds name in the merged directory.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	n.looked.Add(1)
	return n.lookupAt(ctx, name, out, nil)
}

// lookupAt is Lookup resolving names from the directory descriptors in
// fds (nil: through paths). In a directory without an upper copy it
// takes the entry read ahead (dirahead.go) when there is one.
func (n *node) lookupAt(ctx context.Context, name string, out *fuse.EntryOut, fds *dirFds) (*fs.Inode, syscall.Errno) {
	dirRel := n.rel()
	ls := n.dirLayers()
	e, ok := (*entry)(nil), false
	if !ls.upper {
		e, ok = n.u.ahead.entry(dirRel, ls.dirs, name)
	}
	if !ok {
		var err error
		if e, err = n.u.find(dirRel, name, ls, fds); err != nil {
			return nil, errno(err)
		}
	}
	return n.newChild(ctx, join(dirRel, name), e, out), 0
}

var _ = (fs.NodeGetattrer)((*node)(nil))

// Getattr reports the topmost entry's attributes.
func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	var st unix.Stat_t
	f := asFile(fh)
	if f != nil && (f.writable || !n.copied.Load()) {
		// The handle is on the topmost file.
		if err := unix.Fstat(f.fd, &st); err != nil {
			return errno(err)
		}
	} else {
		// A handle opened on the lower file before copy-up would report
		// stale attributes for the whole inode: ask the path instead.
		p, err := n.realPath()
		if err == nil {
			err = unix.Lstat(p, &st)
		}
		if err == unix.ENOENT || err == nil && st.Mode&unix.S_IFMT != n.StableAttr().Mode {
			// A rename or remove of the entry may be under way, and the
			// path found a whiteout or nothing: a reply of another file
			// type would make the kernel mark the inode bad (EIO). Ask
			// again once the change is done.
			err = n.lstatSettled(&st)
		}
		// Removed or retired: the upper copy this handle switched to, else
		// the removed upper copy (goneFd), else the attributes the entry
		// had when it was removed (the handle's own descriptor is on the
		// lower file, stale once copied up), else that lower file.
		if err != nil && f != nil {
			if fd := f.upfd.Load(); fd > 0 {
				err = unix.Fstat(int(fd), &st)
			}
		}
		if err != nil {
			if fd := n.goneFd.Load(); fd > 0 {
				err = unix.Fstat(int(fd), &st)
			}
		}
		if err != nil {
			n.mu.Lock()
			if n.gone != nil {
				st, err = *n.gone, nil
			}
			n.mu.Unlock()
		}
		if err != nil && f != nil {
			err = unix.Fstat(f.fd, &st)
		}
		if err != nil {
			return errno(err)
		}
	}
	n.mu.Lock()
	e := entry{upper: n.upper, dirs: n.dirs}
	n.mu.Unlock()
	n.u.fillAttr(&st, &out.Attr, &e)
	return 0
}

// fillAttr converts a layer's stat into what the union shows: owners
// mapped, and nlink 1 for a directory merged from several layers (kernel
// overlayfs does the same rather than count subdirectories).
func (u *Union) fillAttr(st *unix.Stat_t, a *fuse.Attr, e *entry) {
	a.Ino, a.Size, a.Blocks, a.Blksize = st.Ino, uint64(st.Size), uint64(st.Blocks), uint32(st.Blksize)
	a.Atime, a.Atimensec = uint64(st.Atim.Sec), uint32(st.Atim.Nsec)
	a.Mtime, a.Mtimensec = uint64(st.Mtim.Sec), uint32(st.Mtim.Nsec)
	a.Ctime, a.Ctimensec = uint64(st.Ctim.Sec), uint32(st.Ctim.Nsec)
	a.Mode, a.Nlink, a.Rdev = st.Mode, uint32(st.Nlink), uint32(st.Rdev)
	a.Uid = u.showUID(st.Uid)
	a.Gid = u.showGID(st.Gid)
	if isDir(st) {
		layers := len(e.dirs)
		if e.upper {
			layers++
		}
		if layers > 1 {
			a.Nlink = 1
		}
	}
}

func (u *Union) showUID(id uint32) uint32 {
	if u.opts.squashUID >= 0 {
		return uint32(u.opts.squashUID)
	}
	return u.opts.uidMap.ToContainer(id)
}

func (u *Union) showGID(id uint32) uint32 {
	if u.opts.squashGID >= 0 {
		return uint32(u.opts.squashGID)
	}
	return u.opts.gidMap.ToContainer(id)
}

func isDir(st *unix.Stat_t) bool { return st.Mode&unix.S_IFMT == unix.S_IFDIR }

var _ = (fs.NodeReadlinker)((*node)(nil))

// Readlink reads the topmost symlink.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	p, err := n.realPath()
	if err != nil {
		return nil, errno(err)
	}
	buf := make([]byte, 4096)
	for {
		k, err := unix.Readlink(p, buf)
		if err != nil {
			return nil, errno(err)
		}
		if k < len(buf) {
			return buf[:k], 0
		}
		buf = make([]byte, 2*len(buf))
	}
}

var _ = (fs.NodeStatfser)((*node)(nil))

// Statfs reports the upper's filesystem (the top lower's if read-only).
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	p := n.u.upper
	if p == "" {
		p = n.u.lowers[0]
	}
	var s unix.Statfs_t
	if err := unix.Statfs(p, &s); err != nil {
		return errno(err)
	}
	out.Blocks, out.Bfree, out.Bavail = s.Blocks, s.Bfree, s.Bavail
	out.Files, out.Ffree = s.Files, s.Ffree
	out.Bsize, out.NameLen, out.Frsize = uint32(s.Bsize), uint32(s.Namelen), uint32(s.Frsize)
	return 0
}

// originOf reads a copied-up file's origin; a file this daemon just
// created has none.
func originOf(u *Union, e *entry, rel string) (uint64, bool) {
	switch {
	case e.hasOrigin:
		return e.origin, true
	case e.fresh:
		return 0, false
	}
	return whiteout.Origin(u.upperPath(rel))
}
