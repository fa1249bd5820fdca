package unionfs

import (
	"container/list"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Directory read-ahead. A listing is most often the start of a walk (find,
// tar, du, ls -R, a package manager's scan): the directories it names are
// listed next, and each of their entries is looked up (READDIRPLUS looks
// up every entry it returns). Those steps take turns on one CPU: the
// walker waits for the union, the union for the disk. On a cold cache a
// directory costs the reads of its blocks and of its entries' inodes, and
// the union's work on it (listing every layer, a lookup through the
// layers per entry) comes on top, each step waiting for the one before.
//
// So when the union lists a directory, it queues the directories that
// listing names, and a background goroutine, on the CPU the walk leaves
// idle, lists each of them and looks up each of its entries as the union
// would, and keeps the results until the walk gets there: the listing and
// lookups then cost no system call on the walk's path, and the kernel's
// caches are warm for whatever else it does.
//
// Only directories without an upper copy are read ahead, and a result is
// used only by a directory that still has none and has the same lower
// copies: what such a directory holds is fixed, because lower layers are
// (see "Model and vocabulary" in the package doc). A directory that gets
// an upper copy stops using what was read ahead for it; a result is
// exactly what the union would compute at the time it is used.
//
// A listing does not have all its directories read ahead at once: only
// the first aheadWindow, in listing order, and then as many past each
// one the walk reaches (lists). A walker keeps the window moving; a
// program that lists a directory and then looks into one or two of its
// subdirectories (Python finding its modules) costs four reads ahead, not
// one per subdirectory.
//
// A directory the walk reaches before its read-ahead (the first of a
// walk, or one a program lists on its own, as Python lists its module
// directories) still has READDIRPLUS look up every entry: lookupAll runs
// those lookups aheadParallel at a time for a listing of aheadParallelMin
// entries or more, so that their waits for the disk overlap.
//
// Bounds: the queue is a stack, newest first, since a depth-first walk
// descends into what it listed last, and drops its oldest jobs beyond
// aheadJobs; a directory with more than aheadPerDir entries is not read
// ahead; results are handed out once (the kernel caches what it was
// given) and the oldest are dropped beyond aheadEntries entries held; at
// most aheadWorkers goroutines run, started on demand and ended when the
// queue is empty, so an idle union runs none.
type aheader struct {
	mu      sync.Mutex
	jobs    []aheadJob           // newest last
	spots   map[string]aheadSpot // queued directories by path in the union
	workers int
	dirs    map[string]*aheadDir // by path in the union
	order   list.List            // of *aheadDir, oldest first
	held    int                  // entries held in dirs
	used    int                  // lookups handed out, in all
}

const (
	aheadWindow  = 4 // directories of a listing read ahead past the walk
	aheadWorkers = 1 // more would take the CPU the walk itself needs
	aheadJobs    = 1024
	aheadPerDir  = 4096
	aheadEntries = 16384

	aheadParallel    = 4  // lookups of one listing at once (lookupAll)
	aheadParallelMin = 32 // entries a batch needs for them
	aheadBatch       = 64 // entries looked up together: about one reply's worth
)

// aheadJob is a directory to read ahead: name in the directory rel whose
// layers are ls.
type aheadJob struct {
	rel  string
	ls   layerSet
	name string
}

// aheadDir is what was read ahead for one directory.
type aheadDir struct {
	rel   string
	dirs  []lowerDir        // its lower copies; results are valid for these only
	ents  []fuse.DirEntry   // its listing; nil once handed out
	found map[string]*entry // lookups of the listed names not handed out yet
	elem  *list.Element
}

// aheadWalk is a listing whose directories are being read ahead.
type aheadWalk struct {
	rel  string
	ls   layerSet
	dirs []string // the directories it holds, in listing order
	next int      // dirs[:next] have been queued
	last int      // the furthest directory the walk reached; -1 before the first
}

// aheadSpot is where a queued directory sits in its parent's walk.
type aheadSpot struct {
	w *aheadWalk
	i int
}

// readAhead notes that the directory rel, whose layers are ls, has been
// listed (ents, in listing order): the walk has reached it, so more of its
// parent's directories are queued; and the first aheadWindow directories
// of its own listing are. It reports whether a walk reached rel in order:
// rel was queued, and is the directory right after the one the walk
// reached last in its parent (or the first).
func (u *Union) readAhead(rel string, ls layerSet, ents []fuse.DirEntry) (inOrder bool) {
	if !u.opts.dirAhead {
		return false
	}
	var dirs []string
	for _, e := range ents {
		if e.Mode&unix.S_IFMT == unix.S_IFDIR {
			dirs = append(dirs, e.Name)
		}
	}
	a := &u.ahead
	a.mu.Lock()
	if spot, ok := a.spots[rel]; ok {
		delete(a.spots, rel)
		inOrder = spot.i == spot.w.last+1
		spot.w.last = max(spot.w.last, spot.i)
		a.queueLocked(spot.w, spot.i+1+aheadWindow)
	}
	if len(dirs) > 0 {
		a.queueLocked(&aheadWalk{rel: rel, ls: ls, dirs: dirs, last: -1}, aheadWindow)
	}
	start := len(a.jobs) > 0 && a.workers < aheadWorkers
	if start {
		a.workers++
	}
	a.mu.Unlock()
	if start {
		go u.aheadWorker()
	}
	return inOrder
}

// queueLocked queues w's directories up to (not including) position to,
// the first of them to be read first, dropping the oldest jobs beyond
// aheadJobs.
func (a *aheader) queueLocked(w *aheadWalk, to int) {
	to = min(to, len(w.dirs))
	if a.spots == nil || len(a.spots) > 2*aheadJobs {
		a.spots = make(map[string]aheadSpot) // forget stalled walks
	}
	for i := to - 1; i >= w.next; i-- {
		a.jobs = append(a.jobs, aheadJob{rel: w.rel, ls: w.ls, name: w.dirs[i]})
		a.spots[childRel(w.rel, w.dirs[i])] = aheadSpot{w: w, i: i}
	}
	w.next = max(w.next, to)
	if over := len(a.jobs) - aheadJobs; over > 0 {
		a.jobs = slices.Delete(a.jobs, 0, over)
	}
}

// childRel is the path of name in the directory rel, as the name's node
// gives it (node.rel).
func childRel(rel, name string) string {
	if rel == "" {
		return name
	}
	return rel + "/" + name
}

func (u *Union) aheadWorker() {
	for {
		j, ok := u.ahead.next()
		if !ok {
			return
		}
		u.prefetch(j)
	}
}

// next takes the newest job, or ends the calling worker when there is none.
func (a *aheader) next() (aheadJob, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.jobs) == 0 {
		a.workers--
		return aheadJob{}, false
	}
	j := a.jobs[len(a.jobs)-1]
	a.jobs = a.jobs[:len(a.jobs)-1]
	return j, true
}

// prefetch reads one directory ahead, unless it has an upper copy: its
// lookup in its parent, its listing and the lookup of every entry. Errors
// end it quietly: the union will meet them again, and report them, if the
// walk gets there.
func (u *Union) prefetch(j aheadJob) {
	rel := childRel(j.rel, j.name)
	if u.ahead.holds(rel) {
		return
	}
	e, err := u.find(j.rel, j.name, j.ls, nil)
	if err != nil || e.upper || !isDir(&e.st) {
		return
	}
	ls := layerSet{dirs: e.dirs}
	ents, err := u.list(rel, ls)
	if err != nil || len(ents) > aheadPerDir {
		return
	}
	var fds dirFds
	defer fds.close()
	found := make(map[string]*entry, len(ents))
	for _, d := range ents {
		if ce, err := u.find(rel, d.Name, ls, &fds); err == nil {
			found[d.Name] = ce
		}
	}
	u.ahead.store(&aheadDir{rel: rel, dirs: e.dirs, ents: ents, found: found})
}

// lookupAll looks up ents, the next entries (aheadBatch at most) of a
// listing of n that READDIRPLUS is about to look up one by one, with
// aheadParallel goroutines at once, and keeps the results for those
// lookups to take: on a cold cache each lookup waits for the disk, and in
// parallel the waits overlap. Only for a directory without an upper copy
// that was not read ahead, and a batch of at least aheadParallelMin
// entries.
func (n *node) lookupAll(ents []fuse.DirEntry) {
	ls := n.dirLayers()
	if ls.upper || len(ents) < aheadParallelMin || !n.u.opts.dirAhead {
		return
	}
	rel := n.rel()
	if n.u.ahead.holds(rel) {
		return
	}
	var (
		mu    sync.Mutex
		found = make(map[string]*entry, len(ents))
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	for range aheadParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var fds dirFds
			defer fds.close()
			for i := int(next.Add(1) - 1); i < len(ents); i = int(next.Add(1) - 1) {
				name := ents[i].Name
				if name == "." || name == ".." {
					continue
				}
				if e, err := n.u.find(rel, name, ls, &fds); err == nil {
					mu.Lock()
					found[name] = e
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	n.u.ahead.store(&aheadDir{rel: rel, dirs: ls.dirs, found: found})
}

// drain drops the queued jobs and what is held: the mount is gone. A
// running worker ends after the directory it is reading.
func (a *aheader) drain() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.jobs = nil
	a.spots = nil
	a.dirs = nil
	a.order.Init()
	a.held = 0
}

// holds reports whether rel has been read ahead and not used up.
func (a *aheader) holds(rel string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.dirs[rel]
	return ok
}

// store keeps d, dropping the oldest results beyond aheadEntries.
func (a *aheader) store(d *aheadDir) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.dirs[d.rel]; ok {
		a.dropLocked(old)
	}
	if a.dirs == nil {
		a.dirs = make(map[string]*aheadDir)
	}
	a.dirs[d.rel] = d
	d.elem = a.order.PushBack(d)
	a.held += len(d.found)
	for a.held > aheadEntries {
		a.dropLocked(a.order.Front().Value.(*aheadDir))
	}
}

func (a *aheader) dropLocked(d *aheadDir) {
	a.order.Remove(d.elem)
	delete(a.dirs, d.rel)
	a.held -= len(d.found)
}

// takeLocked returns what was read ahead for rel if it was read for the
// lower copies dirs, and drops it if it was read for others.
func (a *aheader) takeLocked(rel string, dirs []lowerDir) (*aheadDir, bool) {
	d, ok := a.dirs[rel]
	if !ok {
		return nil, false
	}
	if !slices.Equal(d.dirs, dirs) {
		a.dropLocked(d)
		return nil, false
	}
	return d, true
}

// listing hands out the listing read ahead for rel, a directory without
// an upper copy whose lower copies are dirs.
func (a *aheader) listing(rel string, dirs []lowerDir) ([]fuse.DirEntry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.takeLocked(rel, dirs)
	if !ok || d.ents == nil {
		return nil, false
	}
	ents := d.ents
	d.ents = nil
	if len(d.found) == 0 {
		a.dropLocked(d)
	}
	return ents, true
}

// entry hands out the lookup of name read ahead in rel, a directory
// without an upper copy whose lower copies are dirs.
func (a *aheader) entry(rel string, dirs []lowerDir, name string) (*entry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.takeLocked(rel, dirs)
	if !ok {
		return nil, false
	}
	e, ok := d.found[name]
	if !ok {
		return nil, false
	}
	delete(d.found, name)
	a.held--
	a.used++
	if len(d.found) == 0 && d.ents == nil {
		a.dropLocked(d)
	}
	return e, true
}
