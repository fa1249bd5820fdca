package unionfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

// aheadTree fills two lowers with a tree that exercises the merge: merged
// directories, whiteouts in three formats, an opaque directory, a
// directory hiding a file below it, hard links and symlinks.
func aheadTree(t *testing.T, l *layers) {
	top, bottom := l.lowers[0], l.lowers[1]
	for i := range 30 {
		writeFile(t, filepath.Join(bottom, "a", fmt.Sprintf("f%02d", i)), strings.Repeat("x", i))
	}
	writeFile(t, filepath.Join(bottom, "a", "sub", "deep", "g"), "g")
	writeFile(t, filepath.Join(bottom, "a", "opq", "hidden"), "h")
	writeFile(t, filepath.Join(bottom, "a", "was-file"), "w")
	writeFile(t, filepath.Join(bottom, "b", "only-bottom"), "b")
	if err := os.Link(filepath.Join(bottom, "a", "f01"), filepath.Join(bottom, "a", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f02", filepath.Join(bottom, "a", "sym")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(top, "a", "f00"), "top version")
	writeFile(t, filepath.Join(top, "a", "sub", "top-only"), "t")
	writeFile(t, filepath.Join(top, "a", "opq", "shown"), "s")
	wt.Opaque(t, filepath.Join(top, "a", "opq"), wt.OpaqueFile)
	writeFile(t, filepath.Join(top, "a", "was-file", "now-dir"), "d")
	wt.Whiteout(t, filepath.Join(top, "a"), "f03", wt.OCI)
	wt.Whiteout(t, filepath.Join(top, "a"), "f04", wt.CharDev)
	wt.Whiteout(t, filepath.Join(top, "a", "sub"), "deep", wt.OCI)
	writeFile(t, filepath.Join(top, "c", "top-dir"), "c")
}

// walkUnion records, for every entry under root, its listing position
// and what a stat shows.
func walkUnion(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, fmt.Sprintf("%s mode=%o size=%d ino=%d nlink=%d", rel, st.Mode, st.Size, st.Ino, st.Nlink))
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return out
}

// waitHeld waits until u holds what was read ahead for rel.
func waitHeld(t *testing.T, u *Union, rel string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !u.ahead.holds(rel); {
		if time.Now().After(deadline) {
			t.Fatalf("%s was not read ahead within 10s", rel)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDirAheadSameView walks the same layers with read-ahead on and off:
// every entry must look the same, inode numbers included; and with it on,
// what was read ahead must be what the walk used.
func TestDirAheadSameView(t *testing.T) {
	requireFUSE(t)
	shared := newLayers(t, 2)
	aheadTree(t, shared)
	var views [][]string
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("dirahead=%v", on), func(t *testing.T) {
			// The same lowers (inode numbers come from them), a fresh
			// upper, work and mountpoint.
			l := newLayers(t, 0)
			l.lowers = shared.lowers
			u, err := New(Config{Lowers: l.lowers, Upper: l.upper, Work: l.work}, WithDirAhead(on))
			if err != nil {
				t.Fatal(err)
			}
			l.serve(t, u, time.Minute)
			if _, err := os.ReadDir(l.mnt); err != nil {
				t.Fatal(err)
			}
			if on {
				waitHeld(t, u, "a")
				waitHeld(t, u, "b")
			}
			views = append(views, walkUnion(t, l.mnt))
			if on && (u.ahead.holds("a") || u.ahead.holds("b")) {
				t.Errorf("the walk did not use what was read ahead for a and b")
			}
		})
	}
	if len(views) == 2 && !slices.Equal(views[0], views[1]) {
		t.Errorf("views differ:\noff: %q\non:  %q", views[0], views[1])
	}
}

// TestDirAheadSeesChanges changes directories through the mount after
// they were read ahead: their listings and lookups must show the changes.
func TestDirAheadSeesChanges(t *testing.T) {
	requireFUSE(t)
	tests := []struct {
		name   string
		change func(t *testing.T, mnt string)
		dir    string   // listed after the change
		want   []string // its names
	}{
		{"create", func(t *testing.T, mnt string) { writeFile(t, filepath.Join(mnt, "b", "new"), "n") },
			"b", []string{"new", "only-bottom"}},
		{"unlink", func(t *testing.T, mnt string) {
			if err := os.Remove(filepath.Join(mnt, "b", "only-bottom")); err != nil {
				t.Fatal(err)
			}
		}, "b", nil},
		{"unlink in a subdirectory", func(t *testing.T, mnt string) {
			if err := os.Remove(filepath.Join(mnt, "a", "sub", "top-only")); err != nil {
				t.Fatal(err)
			}
		}, "a/sub", nil},
		{"replace a directory", func(t *testing.T, mnt string) {
			if err := os.RemoveAll(filepath.Join(mnt, "a", "opq")); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(mnt, "a", "opq", "fresh"), "f")
		}, "a/opq", []string{"fresh"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayers(t, 2)
			aheadTree(t, l)
			u, err := New(Config{Lowers: l.lowers, Upper: l.upper, Work: l.work})
			if err != nil {
				t.Fatal(err)
			}
			l.serve(t, u, time.Minute)
			for _, d := range []string{"", "a"} {
				if _, err := os.ReadDir(filepath.Join(l.mnt, d)); err != nil {
					t.Fatal(err)
				}
			}
			waitHeld(t, u, "b")
			waitHeld(t, u, "a/sub")
			waitHeld(t, u, "a/opq")
			tc.change(t, l.mnt)
			ents, err := os.ReadDir(filepath.Join(l.mnt, tc.dir))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.Name())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s lists %q, want %q", tc.dir, got, tc.want)
			}
			for _, n := range tc.want {
				if _, err := os.Lstat(filepath.Join(l.mnt, tc.dir, n)); err != nil {
					t.Errorf("lstat %s/%s: %v", tc.dir, n, err)
				}
			}
		})
	}
}

// TestAheaderBounds checks the holding rules without a mount: results are
// handed out once, only for the lower copies they were read for, and the
// oldest are dropped beyond aheadEntries.
func TestAheaderBounds(t *testing.T) {
	dirs := []lowerDir{{idx: 0}}
	mk := func(rel string, n int) *aheadDir {
		d := &aheadDir{rel: rel, dirs: dirs, found: map[string]*entry{}}
		for i := range n {
			name := fmt.Sprintf("e%d", i)
			d.ents = append(d.ents, fuse.DirEntry{Name: name})
			d.found[name] = &entry{}
		}
		return d
	}
	var a aheader
	a.store(mk("x", 2))
	if _, ok := a.listing("x", []lowerDir{{idx: 1}}); ok {
		t.Errorf("listing handed out for other lower copies")
	}
	if a.holds("x") {
		t.Errorf("a result read for other lower copies is still held")
	}
	a.store(mk("x", 2))
	if ents, ok := a.listing("x", dirs); !ok || len(ents) != 2 {
		t.Errorf("listing = %v, %v; want 2 entries", ents, ok)
	}
	if _, ok := a.listing("x", dirs); ok {
		t.Errorf("listing handed out twice")
	}
	if _, ok := a.entry("x", dirs, "e0"); !ok {
		t.Errorf("entry e0 not handed out")
	}
	if _, ok := a.entry("x", dirs, "e0"); ok {
		t.Errorf("entry e0 handed out twice")
	}
	if _, ok := a.entry("x", dirs, "e1"); !ok || a.holds("x") {
		t.Errorf("x still held after everything was handed out")
	}
	for i := range 5 {
		a.store(mk(fmt.Sprintf("big%d", i), aheadEntries/4))
	}
	if a.holds("big0") || !a.holds("big4") || a.held > aheadEntries {
		t.Errorf("held %d entries (limit %d), big0 held %v, big4 held %v", a.held, aheadEntries, a.holds("big0"), a.holds("big4"))
	}
}

// TestDirAheadWindow checks that a listing has only its first directories
// read ahead, and more as the walk reaches them.
func TestDirAheadWindow(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	var dirs []string
	for i := range 12 {
		name := fmt.Sprintf("d%02d", i)
		dirs = append(dirs, name)
		writeFile(t, filepath.Join(l.lowers[0], "w", name, "f"), "f")
	}
	sortListingOrder(dirs)
	u, err := New(Config{Lowers: l.lowers, Upper: l.upper, Work: l.work})
	if err != nil {
		t.Fatal(err)
	}
	l.serve(t, u, time.Minute)
	if _, err := os.ReadDir(filepath.Join(l.mnt, "w")); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, u, "w/"+dirs[aheadWindow-1])
	time.Sleep(100 * time.Millisecond)
	for _, d := range dirs[aheadWindow:] {
		if u.ahead.holds("w/" + d) {
			t.Errorf("w/%s read ahead before the walk got near it", d)
		}
	}
	if _, err := os.ReadDir(filepath.Join(l.mnt, "w", dirs[1])); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, u, "w/"+dirs[1+aheadWindow])
	if u.ahead.holds("w/" + dirs[2+aheadWindow]) {
		t.Errorf("w/%s read ahead beyond the window", dirs[2+aheadWindow])
	}
}

// TestLookupAll lists a large lower-only directory that was not read
// ahead, with attributes for every entry: READDIRPLUS's lookups come from
// the parallel batches, and show what the layers hold.
func TestLookupAll(t *testing.T) {
	requireFUSE(t)
	for _, tc := range []struct {
		on bool
		n  int
	}{
		{false, aheadParallelMin + 8},
		{true, aheadParallelMin + 8},
		{true, aheadBatch + aheadParallelMin + 8},
	} {
		t.Run(fmt.Sprintf("dirahead=%v/%d", tc.on, tc.n), func(t *testing.T) {
			l := newLayers(t, 1)
			for i := range tc.n {
				writeFile(t, filepath.Join(l.lowers[0], "big", fmt.Sprintf("f%03d", i)), strings.Repeat("x", i%50))
			}
			u, err := New(Config{Lowers: l.lowers, Upper: l.upper, Work: l.work},
				WithDirAhead(tc.on), WithReaddirPlus(ReaddirPlusOn))
			if err != nil {
				t.Fatal(err)
			}
			l.serve(t, u, time.Minute)
			ents, err := os.ReadDir(filepath.Join(l.mnt, "big"))
			if err != nil {
				t.Fatal(err)
			}
			if len(ents) != tc.n {
				t.Fatalf("listed %d entries, want %d", len(ents), tc.n)
			}
			// The kernel uses READDIRPLUS for the first part of a
			// listing; the rest is looked up as it is stat'ed.
			for i := range tc.n {
				fi, err := os.Lstat(filepath.Join(l.mnt, "big", fmt.Sprintf("f%03d", i)))
				if err != nil || fi.Size() != int64(i%50) {
					t.Errorf("f%03d: %v, size %v; want size %d", i, err, fi, i%50)
				}
			}
			u.ahead.mu.Lock()
			used := u.ahead.used
			u.ahead.mu.Unlock()
			switch {
			case !tc.on && used != 0:
				t.Errorf("%d lookups came from batches with dirahead off", used)
			case tc.on && used < min(tc.n, aheadBatch):
				t.Errorf("%d lookups came from the batches, want at least %d", used, min(tc.n, aheadBatch))
			}
		})
	}
}
