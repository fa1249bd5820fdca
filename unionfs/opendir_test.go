package unionfs

import (
	"fmt"
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
	live     map[uint64]bool
	opened   int
	released int
}

func newFakeDirs(size int) *fakeDirs {
	return &fakeDirs{RawFileSystem: fuse.NewDefaultRawFileSystem(), size: size, live: map[uint64]bool{}}
}

func (f *fakeDirs) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.live[f.next] = true
	f.opened++
	out.Fh = f.next
	return fuse.OK
}

func (f *fakeDirs) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	f.mu.Lock()
	ok := f.live[in.Fh]
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

func TestDirlessOffsets(t *testing.T) {
	f := newFakeDirs(10)
	d := newDirless(f)
	if n := readAll(d, 7, 0, 2); n != 4 {
		t.Fatalf("first reads got %d entries", n)
	}
	// Offset 0 again is a new opendir or a rewinddir: a fresh listing,
	// the old one released.
	if n := readAll(d, 7, 0, -1); n != 10 {
		t.Errorf("a fresh listing got %d entries, want 10", n)
	}
	// A reader continuing where no listing is open gets one.
	if n := readAll(d, 8, 6, -1); n != 4 {
		t.Errorf("continuing at offset 6 got %d entries, want 4", n)
	}
	if len(f.live) != 0 || f.opened != f.released {
		t.Errorf("live %d, opened %d, released %d: want every listing released", len(f.live), f.opened, f.released)
	}
}

// TestDirlessConcurrentReaders: readers of one directory at once, each
// from the start, all see every entry and leave nothing open.
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
	if len(f.live) != 0 {
		t.Errorf("%d listings left open", len(f.live))
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
