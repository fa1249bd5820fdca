package unionfs

import (
	"container/list"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// maxDirStreams bounds the listings a dirless keeps open for readers that
// stopped before the end of a directory.
const maxDirStreams = 64

// dirless serves directories without OPENDIR and RELEASEDIR: the first
// OPENDIR is answered ENOSYS, after which the kernel sends neither again
// (zero-message opendir, Linux 5.1) and reads every directory with file
// handle 0, caching its listing as if we had asked for FOPEN_CACHE_DIR and
// FOPEN_KEEP_CACHE. That saves two of the four round trips a cold
// directory costs (OPENDIR, READDIRPLUS, the empty READDIR that ends it,
// RELEASEDIR), which is what walking a tree spends its time on.
//
// A read with handle 0 is served from a listing (a stream) opened here
// through the node file system's own OpenDir. Offset 0 opens a new stream
// (a new opendir, or rewinddir); a later offset continues the stream of
// that directory whose last read spans it, so that each reader keeps
// the snapshot it started with, as it would with its own handle, even
// while the directory changes. When no stream spans it (it ended, or was
// dropped) a new one is opened and the node layer seeks it. A stream
// is released when it returns nothing, or when more than maxDirStreams
// are open (least recently used first).
type dirless struct {
	fuse.RawFileSystem

	mu  sync.Mutex
	lru list.List // of *dirStream, most recently used at the front
}

// dirStream is one listing of directory node. mu serialises the reads on
// it and its release. Under dirless.mu, [from, to] is the span of offsets
// its last read started at and reached: the kernel keeps what the reader
// did not take, and asks again from where the reader stopped, somewhere in
// that span.
type dirStream struct {
	node     uint64
	from, to uint64
	elem     *list.Element // nil once out of the table

	mu   sync.Mutex
	fh   uint64
	open bool
	plus bool   // the last read was READDIRPLUS
	size uint32 // the size the last read asked for
}

func newDirless(fs fuse.RawFileSystem) *dirless {
	return &dirless{RawFileSystem: fs}
}

// OpenDir declines, so the kernel stops sending OPENDIR and RELEASEDIR.
func (d *dirless) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return fuse.ENOSYS
}

// ReadDir serves plain READDIR.
func (d *dirless) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return d.read(cancel, in, out, false)
}

// ReadDirPlus serves READDIRPLUS.
func (d *dirless) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return d.read(cancel, in, out, true)
}

func (d *dirless) read(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList, plus bool) fuse.Status {
	read := d.RawFileSystem.ReadDir
	if plus {
		read = d.RawFileSystem.ReadDirPlus
	}
	if in.Fh != 0 {
		// Opened before the kernel learnt it need not open.
		return read(cancel, in, out)
	}
	s := d.take(in.NodeId, in.Offset)
	for s.open && in.Offset != s.to && (plus && !s.plus || in.Size < s.size) {
		// go-fuse (v2.12) answers a request that starts inside its
		// last reply from that reply's entries; when they no longer
		// fit (READDIRPLUS entries are larger than READDIR's, or the
		// reader's buffer shrank) it loses its place in the listing
		// and skips entries. A new listing seeks by cookie instead.
		d.release(s)
		s.mu.Unlock()
		s = d.take(in.NodeId, in.Offset)
	}
	defer s.mu.Unlock()
	if !s.open {
		var o fuse.OpenOut
		if st := d.RawFileSystem.OpenDir(cancel, &fuse.OpenIn{InHeader: in.InHeader}, &o); st != fuse.OK {
			d.drop(s)
			return st
		}
		s.fh, s.open = o.Fh, true
	}
	r := *in
	r.Fh = s.fh
	st := read(cancel, &r, out)
	if st != fuse.OK || len(out.Bytes()) == 0 {
		d.release(s)
		return st
	}
	d.mu.Lock()
	s.from, s.to = in.Offset, out.Offset
	d.mu.Unlock()
	s.plus, s.size = plus, in.Size
	return st
}

// take returns, locked, the most recently used stream of node whose last
// read spans offset, or a new one, and releases the least recently used
// beyond maxDirStreams.
func (d *dirless) take(node, offset uint64) *dirStream {
	for {
		d.mu.Lock()
		var s *dirStream
		if offset != 0 {
			for e := d.lru.Front(); e != nil; e = e.Next() {
				if c := e.Value.(*dirStream); c.node == node && c.from <= offset && offset <= c.to {
					s = c
					d.lru.MoveToFront(e)
					break
				}
			}
		}
		var evict []*dirStream
		if s == nil {
			s = &dirStream{node: node, from: offset, to: offset}
			s.elem = d.lru.PushFront(s)
			for d.lru.Len() > maxDirStreams {
				evict = append(evict, d.unlinkLocked(d.lru.Back().Value.(*dirStream)))
			}
		}
		d.mu.Unlock()
		for _, old := range evict {
			old.mu.Lock()
			d.release(old)
			old.mu.Unlock()
		}
		s.mu.Lock()
		d.mu.Lock()
		live := s.elem != nil
		d.mu.Unlock()
		if live {
			return s
		}
		s.mu.Unlock() // released while we waited for it: look again
	}
}

func (d *dirless) unlinkLocked(s *dirStream) *dirStream {
	if s.elem != nil {
		d.lru.Remove(s.elem)
		s.elem = nil
	}
	return s
}

// Forget releases the node's listings before the node file system forgets
// the node. The kernel forgets a directory only once nothing has it open,
// so no read can want them; and go-fuse, which holds the listings' handles
// under the node, must not be asked to release a handle of a node it no
// longer knows (it panics, and the read that evicted the listing fails
// with EIO: rm -rf of a tree with more than maxDirStreams directories it
// listed without reading to the end).
func (d *dirless) Forget(nodeid, nlookup uint64) {
	d.releaseNode(nodeid)
	d.RawFileSystem.Forget(nodeid, nlookup)
}

// releaseNode releases every listing of node.
func (d *dirless) releaseNode(node uint64) {
	var gone []*dirStream
	d.mu.Lock()
	for e := d.lru.Front(); e != nil; {
		next := e.Next()
		if s := e.Value.(*dirStream); s.node == node {
			gone = append(gone, d.unlinkLocked(s))
		}
		e = next
	}
	d.mu.Unlock()
	for _, s := range gone {
		s.mu.Lock()
		d.release(s)
		s.mu.Unlock()
	}
}

// drop takes s out of the table.
func (d *dirless) drop(s *dirStream) {
	d.mu.Lock()
	d.unlinkLocked(s)
	d.mu.Unlock()
}

// release takes s out of the table and releases its listing; s.mu is held.
func (d *dirless) release(s *dirStream) {
	d.drop(s)
	if !s.open {
		return
	}
	s.open = false
	d.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: s.node}, Fh: s.fh})
}
