package unionfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestFaOrderAdvance(t *testing.T) {
	names := make([]string, 40)
	for i := range names {
		names[i] = fmt.Sprintf("f%02d", i)
	}
	tests := []struct {
		name    string
		walker  bool
		opens   []int    // positions opened, in turn
		want    []string // read ahead by the last open
		inOrder bool     // whether the last open was in order
	}{
		{name: "first open", opens: []int{0}, inOrder: true},
		{name: "first open, not the first file", opens: []int{3}},
		{name: "two in order", opens: []int{0, 1}, inOrder: true},
		{name: "three in order", opens: []int{0, 1, 2}, want: names[3:19], inOrder: true},
		{name: "three in order from the middle", opens: []int{7, 8, 9}, want: names[10:26], inOrder: true},
		{name: "skipping one", opens: []int{0, 1, 3}},
		{name: "same file again", opens: []int{4, 4, 4}},
		{name: "backwards", opens: []int{6, 5, 4}},
		{name: "window slides by one", opens: []int{0, 1, 2, 3}, want: names[19:20], inOrder: true},
		{name: "a new run after a skip", opens: []int{0, 1, 2, 5, 6, 7}, want: names[19:24], inOrder: true},
		{name: "near the end", opens: []int{36, 37, 38}, want: names[39:40], inOrder: true},
		{name: "at the end", opens: []int{37, 38, 39}, inOrder: true},
		{name: "scattered", opens: []int{30, 3, 17}},
		{name: "walker, first file", walker: true, opens: []int{0}, want: names[1:17], inOrder: true},
		{name: "walker, second in order", walker: true, opens: []int{5, 6}, want: names[7:23], inOrder: true},
		{name: "walker, first open not the first file", walker: true, opens: []int{3}},
		{name: "walker, out of order", walker: true, opens: []int{5, 9}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newFaOrder(names)
			var (
				got []string
				in  bool
			)
			for _, p := range tc.opens {
				got, in = o.advance(names[p], tc.walker)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("read ahead %q, want %q", got, tc.want)
			}
			if in != tc.inOrder {
				t.Errorf("in order %v, want %v", in, tc.inOrder)
			}
		})
	}
	if got, in := (&faOrder{}).advance("missing", true); got != nil || in {
		t.Errorf("a name outside the listing read ahead %q (in order %v)", got, in)
	}
}

// resident reports whether the first page of the file at path is in the
// page cache.
func resident(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := unix.Mmap(int(f.Fd()), 0, unix.Getpagesize(), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	var vec [1]byte
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		t.Fatalf("mincore %s: %v", path, e)
	}
	return vec[0]&1 != 0
}

// evict drops the file at path from the page cache.
func evict(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// TestFileAhead reads files of a lower directory through the mount, in
// name order and out of order, and checks which of the next files the
// union read into the page cache.
func TestFileAhead(t *testing.T) {
	requireFUSE(t)
	tests := []struct {
		name   string
		on     bool
		opens  []string // files opened in turn: "DIR/N" is DIR/fNN
		ahead  string   // a file that must (or must not) be read ahead
		wanted bool     // whether it must be
	}{
		{name: "in order", on: true, opens: []string{"d/0", "d/1", "d/2"}, ahead: "d/7", wanted: true},
		{name: "in order, off", on: false, opens: []string{"d/0", "d/1", "d/2"}, ahead: "d/7"},
		{name: "two in order", on: true, opens: []string{"d/0", "d/1"}, ahead: "d/6"},
		{name: "out of order", on: true, opens: []string{"d/20", "d/3", "d/11"}, ahead: "d/12"},
		{name: "walker, next directory", on: true, opens: []string{"d/0", "d/1", "d/2", "e/0"}, ahead: "e/5", wanted: true},
		{name: "not a walker, next directory", on: true, opens: []string{"d/0", "d/1", "e/0"}, ahead: "e/5"},
		{name: "walker gone out of order", on: true, opens: []string{"d/0", "d/1", "d/2", "d/9", "e/0"}, ahead: "e/5"},
	}
	file := func(spec string) string {
		dir, n, _ := strings.Cut(spec, "/")
		i, err := strconv.Atoi(n)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, fmt.Sprintf("f%02d", i))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayers(t, 1)
			for _, dir := range []string{"d", "e"} {
				for i := range 30 {
					p := filepath.Join(l.lowers[0], dir, fmt.Sprintf("f%02d", i))
					writeFile(t, p, strings.Repeat("x", 64<<10))
				}
			}
			unix.Sync()
			for _, dir := range []string{"d", "e"} {
				for i := range 30 {
					evict(t, filepath.Join(l.lowers[0], dir, fmt.Sprintf("f%02d", i)))
				}
			}
			target := filepath.Join(l.lowers[0], file(tc.ahead))
			if resident(t, target) {
				t.Skip("this filesystem keeps evicted pages cached; cannot observe read-ahead")
			}
			u, err := New(Config{Lowers: l.lowers, Upper: l.upper, Work: l.work}, WithFileAhead(tc.on))
			if err != nil {
				t.Fatal(err)
			}
			l.serve(t, u, time.Minute)
			for _, spec := range tc.opens {
				if _, err := os.ReadFile(filepath.Join(l.mnt, file(spec))); err != nil {
					t.Fatal(err)
				}
			}
			wait := 300 * time.Millisecond
			if tc.wanted {
				wait = 10 * time.Second
			}
			for deadline := time.Now().Add(wait); time.Now().Before(deadline) && !resident(t, target); {
				time.Sleep(10 * time.Millisecond)
			}
			if got := resident(t, target); got != tc.wanted {
				t.Errorf("%s read ahead: %v, want %v", file(tc.ahead), got, tc.wanted)
			}
		})
	}
}
