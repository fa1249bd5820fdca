package unionfs

import (
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
)

// File read-ahead. The kernel reads ahead within a file, but a reader going
// through a directory's files one after another (tar, cp -r, rsync, a
// checksum or backup run, a scanner) still waits for the disk at the
// start of every file, and a small file is nothing but its start. When
// the union sees the files of a directory without an upper copy opened in
// order, it asks the kernel, from a background goroutine, to read the next
// ones (POSIX_FADV_WILLNEED on the lower file, the first faBytes of each):
// their reads, passed through or served here, then find the pages in the
// cache, and the disk works while the reader does.
//
// "In order" is either order a reader meets the files in: the union's
// listing order (name cookies, see dirCookie), which tar, cp and find
// follow, or name order, which shells' globs and rsync follow. An open is
// in order when it is of the file right after the one opened before it in
// the same directory, or of a directory's first file as the first open
// there. Read-ahead starts after faRun opens in order in a row; a reader
// that made such a run in some directory is a walker, and in the next
// directories read-ahead starts at the first open in order, until the
// union sees an open out of order. Opens out of order (a program loading
// its modules, a compiler reading headers) read nothing ahead: a Python
// import opens a package's __init__ and, as often as not, the module
// after it in name order, but rarely a third in a row.
//
// It only warms the page cache, so it changes no answer. Bounds: faFiles
// files ahead of the reader, faBytes of each; opens wait in a queue of
// faEvents, the oldest dropped beyond it; the worker remembers faDirsMax
// directories, and does not follow one of more than faMaxFiles files; one
// worker at most, started on demand and ended when the queue is empty.
type fileAheader struct {
	mu      sync.Mutex
	events  []faEvent // oldest first
	working bool

	// The worker's own state: only the running worker touches it (one
	// runs at a time, and the next starts after it ended, under mu).
	dirs   map[*node]*faDir
	recent []*node // of dirs, oldest first
	walker bool    // the last opens came from a walker (see above)
}

const (
	faEvents   = 256
	faDirsMax  = 32
	faFiles    = 16
	faBytes    = 1 << 20
	faMaxFiles = 8192
	faRun      = 3 // opens in order in a row that start read-ahead
)

// faEvent is an open of file name in directory dir.
type faEvent struct {
	dir  *node
	name string
}

// faDir is what the worker knows of one directory.
type faDir struct {
	dirs   []lowerDir        // the lower copies listed
	paths  map[string]string // regular file name -> its lower file
	orders [2]faOrder        // listing order, name order
}

// faOrder follows a reader through the files of a directory in one order.
type faOrder struct {
	names []string
	pos   map[string]int
	last  int // position of the last open; -1 before the first
	run   int // opens in order in a row, ending at last
	ahead int // last position read ahead; -1 before the first
}

// fileOpened notes that n, a file of a lower layer, was opened for reading.
func (u *Union) fileOpened(n *node) {
	if !u.opts.fileAhead {
		return
	}
	name, parent := n.Parent()
	if parent == nil {
		return
	}
	dir, ok := parent.Operations().(*node)
	if !ok {
		return
	}
	a := &u.fileAhead
	a.mu.Lock()
	a.events = append(a.events, faEvent{dir: dir, name: name})
	if over := len(a.events) - faEvents; over > 0 {
		a.events = slices.Delete(a.events, 0, over)
	}
	start := !a.working
	a.working = true
	a.mu.Unlock()
	if start {
		go u.fileAheadWorker()
	}
}

func (u *Union) fileAheadWorker() {
	a := &u.fileAhead
	for {
		a.mu.Lock()
		if len(a.events) == 0 {
			a.working = false
			a.mu.Unlock()
			return
		}
		ev := a.events[0]
		a.events = a.events[1:]
		a.mu.Unlock()
		for _, p := range a.advance(u, ev) {
			readAheadFile(p)
		}
	}
}

// advance records ev and returns the lower files to read ahead.
func (a *fileAheader) advance(u *Union, ev faEvent) []string {
	ls := ev.dir.dirLayers()
	if ls.upper {
		a.forget(ev.dir)
		return nil
	}
	d := a.dirs[ev.dir]
	if d == nil || !slices.Equal(d.dirs, ls.dirs) {
		d = u.faList(ev.dir.rel(), ls)
		a.remember(ev.dir, d)
	}
	var out []string
	inOrder := false
	for i := range d.orders {
		names, in := d.orders[i].advance(ev.name, a.walker)
		inOrder = inOrder || in
		a.walker = a.walker || d.orders[i].run >= faRun
		for _, name := range names {
			if p := d.paths[name]; p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if !inOrder {
		a.walker = false
	}
	return out
}

// remember keeps d for dir, forgetting the oldest directory beyond
// faDirsMax.
func (a *fileAheader) remember(dir *node, d *faDir) {
	if a.dirs == nil {
		a.dirs = make(map[*node]*faDir)
	}
	if _, ok := a.dirs[dir]; !ok {
		a.recent = append(a.recent, dir)
	}
	a.dirs[dir] = d
	for len(a.recent) > faDirsMax {
		delete(a.dirs, a.recent[0])
		a.recent = a.recent[1:]
	}
}

func (a *fileAheader) forget(dir *node) {
	if _, ok := a.dirs[dir]; ok {
		delete(a.dirs, dir)
		a.recent = slices.DeleteFunc(a.recent, func(n *node) bool { return n == dir })
	}
}

// faList lists the regular files of the directory rel, whose layers are ls
// (no upper), in both orders. A directory that cannot be listed, or has
// more than faMaxFiles files, gets an empty record, so that its opens
// cost nothing more.
func (u *Union) faList(rel string, ls layerSet) *faDir {
	d := &faDir{dirs: ls.dirs, paths: map[string]string{}}
	var names []string
	err := u.merge(rel, ls, func(layer int, e whiteout.Dirent) {
		if e.Type == unix.DT_REG && layer > 0 {
			names = append(names, e.Name)
			d.paths[e.Name] = u.lowerPath(layer-1, join(ls.relIn(layer, rel), e.Name))
		}
	})
	if err != nil || len(names) > faMaxFiles {
		return &faDir{dirs: ls.dirs}
	}
	byCookie := slices.Clone(names)
	sortListingOrder(byCookie)
	slices.Sort(names)
	d.orders[0] = newFaOrder(byCookie)
	d.orders[1] = newFaOrder(names)
	return d
}

func newFaOrder(names []string) faOrder {
	pos := make(map[string]int, len(names))
	for i, n := range names {
		pos[n] = i
	}
	return faOrder{names: names, pos: pos, last: -1, ahead: -1}
}

// advance records an open of name and reports whether it was in order
// (see the file read-ahead above). When it makes a run of faRun opens in
// order, or is in order and walker is set, it returns the names to read
// ahead: up to faFiles past it, less those already read ahead.
func (o *faOrder) advance(name string, walker bool) (ahead []string, inOrder bool) {
	p, ok := o.pos[name]
	if !ok {
		return nil, false
	}
	seq := o.last >= 0 && p == o.last+1
	first := o.last < 0 && p == 0
	if seq {
		o.run++
	} else {
		o.run = 1
	}
	o.last = p
	inOrder = seq || first
	if o.run < faRun && !(walker && inOrder) {
		return nil, inOrder
	}
	from, to := max(p+1, o.ahead+1), min(len(o.names), p+1+faFiles)
	if from >= to {
		return nil, inOrder
	}
	o.ahead = to - 1
	return o.names[from:to], inOrder
}

// readAheadFile asks the kernel to read the start of the file at path
// into the page cache, without waiting for it. Errors are ignored: this
// is a hint.
func readAheadFile(path string) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	_ = unix.Fadvise(fd, 0, faBytes, unix.FADV_WILLNEED)
	unix.Close(fd)
}
