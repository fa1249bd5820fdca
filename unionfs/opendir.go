package unionfs

import (
	"container/list"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// maxDirStreams bounds the listings a dirless keeps open for directories
// whose reader stopped before the end.
const maxDirStreams = 64

// dirless serves directories without OPENDIR and RELEASEDIR: the first
// OPENDIR is answered ENOSYS, after which the kernel sends neither again
// (zero-message opendir, Linux 5.1) and reads every directory with file
// handle 0, caching its listing as if we had asked for FOPEN_CACHE_DIR and
// FOPEN_KEEP_CACHE. That saves two of the four round trips a cold
// directory costs (OPENDIR, READDIRPLUS, the empty READDIR that ends it,
// RELEASEDIR), which is what walking a tree spends its time on.
//
// A read with handle 0 is served from a listing opened here through the
// node file system's own OpenDir: offset 0 opens a fresh one (a new
// opendir, or rewinddir), a later offset continues the one open for that
// directory (the node layer seeks it when the offset is not where it
// stopped), and the listing is released once it returns nothing, or when
// more than maxDirStreams are open (least recently used first). Listings
// are snapshots with stable offsets, so a reader continuing on a listing
// opened for another reader of the same directory sees the same entries
// at the same offsets.
type dirless struct {
	fuse.RawFileSystem

	mu      sync.Mutex
	streams map[uint64]*list.Element // node id -> *dirStream in lru
	lru     list.List                // most recently used at the front
}

// dirStream is one listing opened for handle-0 reads of a directory. mu
// serialises the reads on it and its release.
type dirStream struct {
	node uint64
	mu   sync.Mutex
	fh   uint64
	open bool
	dead bool // released and out of the table: look again
}

func newDirless(fs fuse.RawFileSystem) *dirless {
	return &dirless{RawFileSystem: fs, streams: map[uint64]*list.Element{}}
}

// OpenDir declines, so the kernel stops sending OPENDIR and RELEASEDIR.
func (d *dirless) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return fuse.ENOSYS
}

// ReadDir serves plain READDIR.
func (d *dirless) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return d.read(cancel, in, out, d.RawFileSystem.ReadDir)
}

// ReadDirPlus serves READDIRPLUS.
func (d *dirless) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return d.read(cancel, in, out, d.RawFileSystem.ReadDirPlus)
}

func (d *dirless) read(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList,
	read func(<-chan struct{}, *fuse.ReadIn, *fuse.DirEntryList) fuse.Status) fuse.Status {
	if in.Fh != 0 {
		// Opened before the kernel learnt it need not open.
		return read(cancel, in, out)
	}
	s := d.stream(in.NodeId, in.Offset == 0)
	s.mu.Lock()
	for s.dead {
		s.mu.Unlock()
		s = d.stream(in.NodeId, false)
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	if !s.open {
		var o fuse.OpenOut
		if st := d.RawFileSystem.OpenDir(cancel, &fuse.OpenIn{InHeader: in.InHeader}, &o); st != fuse.OK {
			d.closeLocked(s)
			return st
		}
		s.fh, s.open = o.Fh, true
	}
	r := *in
	r.Fh = s.fh
	st := read(cancel, &r, out)
	if st != fuse.OK || len(out.Bytes()) == 0 {
		d.closeLocked(s)
	}
	return st
}

// stream returns the listing for node, a new one if fresh is set or none
// is open, and evicts the least recently used beyond maxDirStreams.
func (d *dirless) stream(node uint64, fresh bool) *dirStream {
	d.mu.Lock()
	var evict []*dirStream
	if e, ok := d.streams[node]; ok {
		if !fresh {
			d.lru.MoveToFront(e)
			d.mu.Unlock()
			return e.Value.(*dirStream)
		}
		evict = append(evict, d.unlinkLocked(e))
	}
	s := &dirStream{node: node}
	d.streams[node] = d.lru.PushFront(s)
	for d.lru.Len() > maxDirStreams {
		evict = append(evict, d.unlinkLocked(d.lru.Back()))
	}
	d.mu.Unlock()
	for _, old := range evict {
		old.mu.Lock()
		d.closeLocked(old)
		old.mu.Unlock()
	}
	return s
}

func (d *dirless) unlinkLocked(e *list.Element) *dirStream {
	s := d.lru.Remove(e).(*dirStream)
	delete(d.streams, s.node)
	return s
}

// forget drops s from the table if it is still the node's listing.
func (d *dirless) forget(s *dirStream) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.streams[s.node]; ok && e.Value.(*dirStream) == s {
		d.unlinkLocked(e)
	}
}

// closeLocked releases s's listing; s.mu is held.
func (d *dirless) closeLocked(s *dirStream) {
	d.forget(s)
	s.dead = true
	if !s.open {
		return
	}
	s.open = false
	d.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: s.node}, Fh: s.fh})
}
