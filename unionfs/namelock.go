package unionfs

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// nameStripes is the number of locks nameLocks spreads directories over.
const nameStripes = 64

// nameLocks orders LOOKUPs against renames and removals of names in the
// same directory, go-fuse's bookkeeping included. The kernel sends most
// LOOKUPs under the directory's lock, which a rename or unlink there takes
// exclusively; but a LOOKUP that revalidates a cached name is sent without
// it. Its answer (node N is x/f) goes into go-fuse's tree of names only
// after our Lookup returns, and if a rename of x/f to y/f (or an unlink of
// x/f) finished in between, the tree links N under x/f again, a name it no
// longer has: N's path (rel) then leads to the whiteout left at x/f, and
// every later open of N fails (ENXIO) until the kernel forgets it. Or, had
// a rename replaced x/f by another node, the stale answer takes that
// node's place in the tree.
//
// So a LOOKUP holds its directory's stripe shared, and RENAME, UNLINK and
// RMDIR hold the stripes of the directories they change exclusively, each
// across the whole request, go-fuse's tree update included. No request
// holds a stripe while waiting for anything but a stripe, and a rename
// takes its two in index order. READDIRPLUS, which also adds names to the
// tree, runs under the kernel's directory lock, shared, as CREATE, MKDIR,
// MKNOD, SYMLINK and LINK, which make a name no lookup could have found,
// run under it exclusively: they need no stripe.
type nameLocks struct {
	fuse.RawFileSystem
	stripes [nameStripes]sync.RWMutex
}

func newNameLocks(fs fuse.RawFileSystem) *nameLocks { return &nameLocks{RawFileSystem: fs} }

func (l *nameLocks) stripe(dir uint64) *sync.RWMutex { return &l.stripes[dir%nameStripes] }

func (l *nameLocks) Lookup(cancel <-chan struct{}, header *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	s := l.stripe(header.NodeId)
	s.RLock()
	defer s.RUnlock()
	return l.RawFileSystem.Lookup(cancel, header, name, out)
}

func (l *nameLocks) Unlink(cancel <-chan struct{}, header *fuse.InHeader, name string) fuse.Status {
	s := l.stripe(header.NodeId)
	s.Lock()
	defer s.Unlock()
	return l.RawFileSystem.Unlink(cancel, header, name)
}

func (l *nameLocks) Rmdir(cancel <-chan struct{}, header *fuse.InHeader, name string) fuse.Status {
	s := l.stripe(header.NodeId)
	s.Lock()
	defer s.Unlock()
	return l.RawFileSystem.Rmdir(cancel, header, name)
}

func (l *nameLocks) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	a, b := in.NodeId%nameStripes, in.Newdir%nameStripes
	if a > b {
		a, b = b, a
	}
	l.stripes[a].Lock()
	defer l.stripes[a].Unlock()
	if b != a {
		l.stripes[b].Lock()
		defer l.stripes[b].Unlock()
	}
	return l.RawFileSystem.Rename(cancel, in, oldName, newName)
}
