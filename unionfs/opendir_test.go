package unionfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// fakeDirs is a raw file system whose every directory lists size entries,
// counting the listings opened and released. A mock: it checks dirless's
// bookkeeping, which a real mount cannot show.
type fakeDirs struct {
	fuse.RawFileSystem
	size int

	mu       sync.Mutex
	next     uint64
	last     uint64 // the handle of the last read
	live     map[uint64]bool
	nodes    map[uint64]uint64 // handle -> node
	opened   int
	released int

	forgotten           []uint64
	releasedAfterForget bool
}

func newFakeDirs(size int) *fakeDirs {
	return &fakeDirs{RawFileSystem: fuse.NewDefaultRawFileSystem(), size: size, live: map[uint64]bool{}, nodes: map[uint64]uint64{}}
}

func (f *fakeDirs) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.live[f.next] = true
	f.nodes[f.next] = in.NodeId
	f.opened++
	out.Fh = f.next
	return fuse.OK
}

func (f *fakeDirs) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	f.mu.Lock()
	ok := f.live[in.Fh]
	f.last = in.Fh
	f.mu.Unlock()
	if !ok {
		return fuse.EBADF
	}
	// Two entries per read, so a listing takes several reads.
	for off := in.Offset; off < uint64(f.size) && off < in.Offset+2; off++ {
		out.AddDirLookupEntry(fuse.DirEntry{Name: fmt.Sprint("e", off), Mode: unix.S_IFREG, Ino: off + 10, Off: off + 1})
	}
	return fuse.OK
}

func (f *fakeDirs) ReleaseDir(in *fuse.ReleaseIn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[in.Fh] {
		panic(fmt.Sprintf("release of unknown handle %d", in.Fh))
	}
	delete(f.live, in.Fh)
	f.released++
	if slices.Contains(f.forgotten, f.nodes[in.Fh]) {
		f.releasedAfterForget = true
	}
}

func (f *fakeDirs) Forget(nodeid, nlookup uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgotten = append(f.forgotten, nodeid)
}

// readAll reads directory node with handle 0 from offset to the end, as
// the kernel does after a declined OPENDIR, and returns the entries read.
func readAll(d *dirless, node, offset uint64, reads int) int {
	n := 0
	for i := 0; reads < 0 || i < reads; i++ {
		out := fuse.NewDirEntryList(make([]byte, 4096), offset)
		in := &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: node}, Offset: offset, Size: 4096}
		if st := d.ReadDirPlus(nil, in, out); st != fuse.OK {
			panic(st)
		}
		if len(out.Bytes()) == 0 {
			return n
		}
		n += 2
		offset += 2
	}
	return n
}

func TestDirlessBookkeeping(t *testing.T) {
	cases := []struct {
		name       string
		dirs       int
		reads      int // per directory before stopping; -1 reads to the end
		wantLive   int
		wantOpened int
	}{
		{name: "read to the end releases", dirs: 10, reads: -1, wantLive: 0, wantOpened: 10},
		{name: "abandoned listings stay bounded", dirs: 3 * maxDirStreams, reads: 1, wantLive: maxDirStreams, wantOpened: 3 * maxDirStreams},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFakeDirs(10)
			d := newDirless(f)
			for node := uint64(1); node <= uint64(c.dirs); node++ {
				readAll(d, node, 0, c.reads)
			}
			if len(f.live) != c.wantLive || f.opened != c.wantOpened {
				t.Errorf("live %d opened %d, want live %d opened %d", len(f.live), f.opened, c.wantLive, c.wantOpened)
			}
		})
	}
}

// TestDirlessForget checks that a node's abandoned listings are released
// when the kernel forgets the node, before the node file system hears of
// it, and only that node's.
func TestDirlessForget(t *testing.T) {
	f := newFakeDirs(10)
	d := newDirless(f)
	for node := uint64(1); node <= 3; node++ {
		readAll(d, node, 0, 1)
	}
	d.Forget(2, 1)
	if len(f.live) != 2 || f.released != 1 || !slices.Equal(f.forgotten, []uint64{2}) {
		t.Errorf("after forgetting node 2: live %v, released %d, forgotten %v; want 2 live, 1 released, [2]", f.live, f.released, f.forgotten)
	}
	if f.releasedAfterForget {
		t.Error("a listing was released after its node was forgotten")
	}
	d.Forget(7, 1) // no listing
	if len(f.live) != 2 {
		t.Errorf("forgetting a node without listings released %d", 2-len(f.live))
	}
}

func TestDirlessOffsets(t *testing.T) {
	f := newFakeDirs(10)
	d := newDirless(f)
	// Reader A reads two chunks, reader B starts the same directory over.
	if n := readAll(d, 7, 0, 2); n != 4 {
		t.Fatalf("reader A's first reads got %d entries", n)
	}
	fhA := f.last
	if n := readAll(d, 7, 0, 1); n != 2 || f.last == fhA {
		t.Fatalf("reader B got %d entries from handle %d; want 2 from a new handle (A has %d)", n, f.last, fhA)
	}
	// A continues on its own listing, and B on its own.
	if n := readAll(d, 7, 4, 1); n != 2 || f.last != fhA {
		t.Errorf("reader A went on with %d entries from handle %d, want 2 from %d", n, f.last, fhA)
	}
	if n := readAll(d, 7, 2, -1); n != 8 {
		t.Errorf("reader B went on with %d entries, want 8", n)
	}
	if n := readAll(d, 7, 6, -1); n != 4 || f.last != fhA {
		t.Errorf("reader A finished with %d entries from handle %d, want 4 from %d", n, f.last, fhA)
	}
	// A reader continuing where no listing stopped gets a new one.
	if n := readAll(d, 8, 6, -1); n != 4 {
		t.Errorf("continuing at offset 6 got %d entries, want 4", n)
	}
	if len(f.live) != 0 || f.opened != f.released {
		t.Errorf("live %d, opened %d, released %d: want every listing released", len(f.live), f.opened, f.released)
	}
}

// TestDirlessConcurrentReaders: readers of one directory at once, each
// from the start, all see every entry.
func TestDirlessConcurrentReaders(t *testing.T) {
	f := newFakeDirs(40)
	d := newDirless(f)
	var wg sync.WaitGroup
	got := make([]int, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = readAll(d, 3, 0, -1)
		}()
	}
	wg.Wait()
	for i, n := range got {
		if n != 40 {
			t.Errorf("reader %d got %d entries, want 40", i, n)
		}
	}
	// Readers that met at an offset share a listing and leave the other
	// one open, for eviction to release: never more than one a reader.
	if len(f.live) > len(got) {
		t.Errorf("%d listings left open by %d readers", len(f.live), len(got))
	}
}

// TestDirectoriesWithoutOpendir lists directories through a real mount,
// where the kernel reads them with handle 0 after the declined OPENDIR.
func TestDirectoriesWithoutOpendir(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 2)
	var want []string
	for i := 0; i < 1500; i++ {
		name := fmt.Sprintf("file-with-a-longish-name-%04d", i)
		layer := l.lowers[i%2]
		if i%3 == 0 {
			layer = l.upper
		}
		writeFile(t, filepath.Join(layer, "big", name), "x")
		want = append(want, name)
	}
	for i := 0; i < 2*maxDirStreams; i++ {
		for j := 0; j < 40; j++ {
			writeFile(t, filepath.Join(l.lowers[0], "many", fmt.Sprint(i), fmt.Sprint(j)), "x")
		}
	}
	for i := 0; i < 600; i++ {
		for _, d := range []string{"churn1", "churn2"} {
			writeFile(t, filepath.Join(l.lowers[1], d, fmt.Sprintf("c%03d", i)), "x")
		}
	}
	l.mount(t, false, 2*time.Minute)
	big := filepath.Join(l.mnt, "big")

	t.Run("small reads see every entry once", func(t *testing.T) {
		got := listNames(t, big)
		if !slices.Equal(got, want) {
			t.Errorf("listed %d names, want %d", len(got), len(want))
		}
	})
	t.Run("interleaved readers", func(t *testing.T) {
		a, b := openDir(t, big), openDir(t, big)
		var gotA, gotB []string
		for doneA, doneB := false, false; !doneA || !doneB; {
			if !doneA {
				doneA = readChunk(t, a, &gotA)
			}
			if !doneB {
				doneB = readChunk(t, b, &gotB)
			}
		}
		slices.Sort(gotA)
		slices.Sort(gotB)
		if !slices.Equal(gotA, want) || !slices.Equal(gotB, want) {
			t.Errorf("interleaved readers listed %d and %d names, want %d", len(gotA), len(gotB), len(want))
		}
	})
	t.Run("rewind sees a new entry", func(t *testing.T) {
		fd := openDir(t, big)
		var first []string
		for !readChunk(t, fd, &first) {
		}
		writeFile(t, filepath.Join(big, "new"), "x")
		if _, err := unix.Seek(fd, 0, 0); err != nil {
			t.Fatal(err)
		}
		var again []string
		for !readChunk(t, fd, &again) {
		}
		if !slices.Contains(again, "new") || slices.Contains(first, "new") {
			t.Errorf("new entry: before rewind %v, after %v", slices.Contains(first, "new"), slices.Contains(again, "new"))
		}
	})
	// A reader that deletes what it has listed, as rm -r does, with small
	// reads: READDIR, then READDIRPLUS once the unlinks' lookups advise
	// it. Alone, and with another reader listing the changed directory
	// (which fills the kernel's listing cache) before it goes on.
	for _, c := range []struct {
		name    string
		dir     string
		another bool
	}{
		{name: "a reader deleting what it listed sees every entry once", dir: "churn1"},
		{name: "and so while another reader lists the directory anew", dir: "churn2", another: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(l.mnt, c.dir)
			a := openDir(t, dir)
			var got []string
			for len(got) < 300 {
				if readChunk(t, a, &got) {
					t.Fatal("ended early")
				}
			}
			for _, name := range got {
				if name != "." && name != ".." {
					if err := os.Remove(filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if c.another {
				listNames(t, dir)
			}
			for !readChunk(t, a, &got) {
			}
			seen := map[string]int{}
			for _, name := range got {
				seen[name]++
			}
			for i := 0; i < 600; i++ {
				if name := fmt.Sprintf("c%03d", i); seen[name] != 1 {
					t.Errorf("%s listed %d times, want once", name, seen[name])
				}
			}
		})
	}
	t.Run("more abandoned listings than kept", func(t *testing.T) {
		var fds []int
		got := make([][]string, 2*maxDirStreams)
		for i := range got {
			fd := openDir(t, filepath.Join(l.mnt, "many", fmt.Sprint(i)))
			readChunk(t, fd, &got[i])
			fds = append(fds, fd)
		}
		for i, fd := range fds {
			for !readChunk(t, fd, &got[i]) {
			}
			if len(got[i]) != 40 {
				t.Errorf("many/%d: listed %d names, want 40", i, len(got[i]))
			}
		}
	})
	t.Run("fsync of a directory", func(t *testing.T) {
		for _, dir := range []string{big, filepath.Join(l.mnt, "many", "0"), l.mnt} {
			fd := openDir(t, dir)
			if err := unix.Fsync(fd); err != nil {
				t.Errorf("fsync %s: %v", dir, err)
			}
		}
	})
}

func openDir(t *testing.T, p string) int {
	t.Helper()
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// readChunk reads one small getdents64 buffer from fd into names (without
// . and ..) and reports whether the directory has ended.
func readChunk(t *testing.T, fd int, names *[]string) bool {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Getdents(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return true
	}
	_, _, got := unix.ParseDirent(buf[:n], -1, nil)
	*names = append(*names, got...)
	return false
}

// listNames lists p in small getdents64 reads, sorted.
func listNames(t *testing.T, p string) []string {
	t.Helper()
	fd := openDir(t, p)
	var names []string
	for !readChunk(t, fd, &names) {
	}
	slices.Sort(names)
	return names
}

func TestOrderByOffset(t *testing.T) {
	ents := orderByOffset([]fuse.DirEntry{
		{Name: "b", Off: 10}, {Name: "a", Off: 10}, {Name: "c", Off: 11}, {Name: "d", Off: 5},
	})
	var got []string
	for _, e := range ents {
		got = append(got, fmt.Sprint(e.Name, e.Off))
	}
	if want := []string{"d5", "a10", "b11", "c12"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// TestSeekdirByCookie: an offset means "after this name", in any listing
// of the directory, also one that no longer has the name.
func TestSeekdirByCookie(t *testing.T) {
	var ents []fuse.DirEntry
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		ents = append(ents, fuse.DirEntry{Name: name, Mode: unix.S_IFREG})
	}
	before := &dirHandle{ents: withCookies(slices.Clone(ents))}
	after := &dirHandle{ents: withCookies(slices.Clone(ents[1:]))} // "a" is gone
	next := func(d *dirHandle) string {
		e, _ := d.Readdirent(context.Background())
		if e == nil {
			return ""
		}
		return e.Name
	}
	cases := []struct {
		name string
		off  uint64
		want string
	}{
		{name: "start", off: 0, want: before.ents[0].Name},
		{name: "after the first", off: before.ents[0].Off, want: before.ents[1].Name},
		{name: "after the last", off: before.ents[4].Off, want: ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before.Seekdir(context.Background(), c.off)
			if got := next(before); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
	t.Run("a name gone from a later listing", func(t *testing.T) {
		off := dirCookie("a")
		before.Seekdir(context.Background(), off)
		after.Seekdir(context.Background(), off)
		if b, a := next(before), next(after); a != b {
			t.Errorf("after %q: the old listing goes on with %q, the new one with %q", "a", b, a)
		}
	})
}

// TestRemoveAbandonedListings removes a lower tree the way rm -rf does:
// each directory is listed with one getdents, not read to the end, then
// emptied and removed. Its listings outlive the directories, so past
// maxDirStreams the oldest are released after the kernel forgot their
// nodes; that must not fail the listings that push them out.
func TestRemoveAbandonedListings(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	const dirs = 2*maxDirStreams + 10
	for i := range dirs {
		for _, f := range []string{"a", "b"} {
			writeFile(t, filepath.Join(l.lowers[0], "tree", fmt.Sprintf("d%03d", i), f), f)
		}
	}
	l.mount(t, false, time.Minute)
	root := filepath.Join(l.mnt, "tree")
	buf := make([]byte, 32<<10)
	for i := range dirs {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", i))
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		n, err := unix.Getdents(fd, buf)
		unix.Close(fd)
		if err != nil {
			t.Fatalf("list %s: %v", dir, err)
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		slices.Sort(names)
		if !slices.Equal(names, []string{"a", "b"}) {
			t.Fatalf("%s lists %q, want [a b]", dir, names)
		}
		for _, name := range names {
			if err := unix.Unlink(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := unix.Rmdir(dir); err != nil {
			t.Fatalf("remove %s: %v", dir, err)
		}
	}
	if err := unix.Rmdir(root); err != nil {
		t.Fatalf("remove %s: %v", root, err)
	}
}
