package unionfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
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
		name  string
		opens []int    // positions opened, in turn
		want  []string // read ahead by the last open
	}{
		{name: "first open", opens: []int{0}},
		{name: "second in order", opens: []int{0, 1}, want: names[2:18]},
		{name: "skipping one", opens: []int{0, 2}},
		{name: "same file again", opens: []int{4, 4}},
		{name: "backwards", opens: []int{5, 4}},
		{name: "window slides by one", opens: []int{0, 1, 2}, want: names[18:19]},
		{name: "back in order after a skip", opens: []int{0, 1, 5, 6}, want: names[18:23]},
		{name: "near the end", opens: []int{37, 38}, want: names[39:40]},
		{name: "at the end", opens: []int{38, 39}},
		{name: "scattered", opens: []int{30, 3, 17}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newFaOrder(names)
			var got []string
			for _, p := range tc.opens {
				got = o.advance(names[p])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("read ahead %q, want %q", got, tc.want)
			}
		})
	}
	if got := (&faOrder{}).advance("missing"); got != nil {
		t.Errorf("a name outside the listing read ahead %q", got)
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
		opens  []int
		ahead  int  // a file that must (or must not) be read ahead
		wanted bool // whether it must be
	}{
		{name: "in order", on: true, opens: []int{0, 1}, ahead: 6, wanted: true},
		{name: "in order, off", on: false, opens: []int{0, 1}, ahead: 6},
		{name: "out of order", on: true, opens: []int{20, 3, 11}, ahead: 12},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLayers(t, 1)
			dir := filepath.Join(l.lowers[0], "d")
			for i := range 30 {
				writeFile(t, filepath.Join(dir, fmt.Sprintf("f%02d", i)), strings.Repeat("x", 64<<10))
			}
			unix.Sync()
			for i := range 30 {
				evict(t, filepath.Join(dir, fmt.Sprintf("f%02d", i)))
			}
			target := filepath.Join(dir, fmt.Sprintf("f%02d", tc.ahead))
			if resident(t, target) {
				t.Skip("this filesystem keeps evicted pages cached; cannot observe read-ahead")
			}
			u, err := New(Config{Lowers: l.lowers, Upper: l.upper, Work: l.work}, WithFileAhead(tc.on))
			if err != nil {
				t.Fatal(err)
			}
			l.serve(t, u, time.Minute)
			for _, i := range tc.opens {
				if _, err := os.ReadFile(filepath.Join(l.mnt, "d", fmt.Sprintf("f%02d", i))); err != nil {
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
				t.Errorf("f%02d read ahead: %v, want %v", tc.ahead, got, tc.wanted)
			}
		})
	}
}
