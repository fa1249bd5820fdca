package unionfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReaddirPlus lists directories the ways readers do, under each
// READDIRPLUS mode, and checks which entries came with attributes and
// which without, and that every entry, either way, shows what the layers
// hold.
func TestReaddirPlus(t *testing.T) {
	requireFUSE(t)
	const n = 300 // several READDIRPLUS requests and policy batches
	tests := []struct {
		name    string
		mode    ReaddirPlus
		noAhead bool
		read    func(t *testing.T, dir string) []string
		want    func(bare, full int64) bool
		expect  string
	}{
		// The kernel sends READDIRPLUS for the first request of a
		// listing, and later ones only after lookups in the directory.
		{name: "auto, listed alone", mode: ReaddirPlusAuto, read: listOnly,
			want: func(b, f int64) bool { return b > 0 && f == 0 }, expect: "none with"},
		{name: "auto, stat as it lists", mode: ReaddirPlusAuto, read: statAsListed,
			want: func(b, f int64) bool { return b > 0 && f > 0 }, expect: "the first without, later ones with"},
		{name: "auto, reached by a walk", mode: ReaddirPlusAuto, read: walkInto,
			want: func(b, f int64) bool { return b <= 2 && f >= n }, expect: "all of big's with"},
		{name: "on", mode: ReaddirPlusOn, read: listOnly,
			want: func(b, f int64) bool { return b == 0 && f > 0 }, expect: "all with"},
		{name: "auto without dirahead", mode: ReaddirPlusAuto, noAhead: true, read: listOnly,
			want: func(b, f int64) bool { return b == 0 && f > 0 }, expect: "all with"},
		{name: "off", mode: ReaddirPlusOff, read: statAsListed,
			want: func(b, f int64) bool { return b == 0 && f == 0 }, expect: "no READDIRPLUS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayers(t, 2)
			var want []string
			for i := range n {
				name := fmt.Sprintf("f%03d", i)
				writeFile(t, filepath.Join(l.lowers[i%2], "top", "big", name), strings.Repeat("x", i))
				want = append(want, name)
			}
			writeFile(t, filepath.Join(l.lowers[0], "top", "small", "s"), "s")
			u, err := New(Config{Lowers: l.lowers, Upper: l.upper, Work: l.work},
				WithReaddirPlus(tc.mode), WithDirAhead(!tc.noAhead))
			if err != nil {
				t.Fatal(err)
			}
			l.serve(t, u, time.Minute)
			got := tc.read(t, filepath.Join(l.mnt, "top"))
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("listed %d names, want %d: %q", len(got), len(want), got)
			}
			if b, f := u.plusBare.Load(), u.plusFull.Load(); !tc.want(b, f) {
				t.Errorf("READDIRPLUS gave %d entries without attributes and %d with; want %s", b, f, tc.expect)
			}
			for i, name := range want {
				fi, err := os.Lstat(filepath.Join(l.mnt, "top", "big", name))
				if err != nil || fi.Size() != int64(i) || !fi.Mode().IsRegular() {
					t.Fatalf("%s: %v, %v; want a file of %d bytes", name, err, fi, i)
				}
			}
		})
	}
}

// listOnly lists top/big, reading every name first.
func listOnly(t *testing.T, top string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(top, "big"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// statAsListed lists top/big in small getdents calls, stat'ing each
// batch of names before asking for the next, as ls -l or find do in a
// directory too large for one call.
func statAsListed(t *testing.T, top string) []string {
	t.Helper()
	dir := filepath.Join(top, "big")
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 4096)
	for {
		nb, err := unix.Getdents(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if nb == 0 {
			return names
		}
		_, _, batch := unix.ParseDirent(buf[:nb], -1, nil)
		for _, name := range batch {
			var st unix.Stat_t
			if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				t.Fatal(err)
			}
		}
		names = append(names, batch...)
	}
}

// walkInto lists top, then each directory it holds in listing order, as
// find does (stat'ing what it lists): big is reached by the walk.
func walkInto(t *testing.T, top string) []string {
	t.Helper()
	ents, err := os.ReadDir(top) // name order; the walk follows listing order
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range ents {
		dirs = append(dirs, e.Name())
	}
	sortListingOrder(dirs)
	var names []string
	for _, d := range dirs {
		if d == "big" {
			names = statAsListed(t, top)
			continue
		}
		if _, err := os.ReadDir(filepath.Join(top, d)); err != nil {
			t.Fatal(err)
		}
	}
	return names
}
