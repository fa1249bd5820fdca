package unionfs

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestTruncatingCopyUp: O_TRUNC and truncate(2) of a lower file copy only
// what survives, and the lower stays intact.
func TestTruncatingCopyUp(t *testing.T) {
	requireFUSE(t)
	cases := []struct {
		name string
		op   func(p string) error
		want string
	}{
		{name: "open O_TRUNC", want: "new", op: func(p string) error {
			return os.WriteFile(p, []byte("new"), 0o644)
		}},
		{name: "truncate shorter", want: "0123", op: func(p string) error { return os.Truncate(p, 4) }},
		{name: "truncate longer", want: "0123456789\x00\x00", op: func(p string) error { return os.Truncate(p, 12) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLayers(t, 1)
			writeFile(t, filepath.Join(l.lowers[0], "d/f"), "0123456789")
			l.mount(t, false, time.Minute)
			p := filepath.Join(l.mnt, "d/f")
			if err := c.op(p); err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{p, filepath.Join(l.upper, "d/f")} {
				if got, _ := os.ReadFile(q); string(got) != c.want {
					t.Errorf("%s = %q, want %q", q, got, c.want)
				}
			}
			if got, _ := os.ReadFile(filepath.Join(l.lowers[0], "d/f")); string(got) != "0123456789" {
				t.Errorf("lower changed: %q", got)
			}
		})
	}
}

// TestConcurrentCopyUp: many writers and readers of one lower file while
// it is copied up see a consistent file, and exactly one copy-up happens.
func TestConcurrentCopyUp(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	data := bytes.Repeat([]byte("lamina!\n"), 4<<20) // 32 MiB
	if err := os.WriteFile(filepath.Join(l.lowers[0], "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	l.mount(t, false, 2*time.Minute, WithDebug(os.Getenv("UNIONFS_DEBUG") != ""))
	p := filepath.Join(l.mnt, "big")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{'A' + byte(i)}, int64(i)*8); err != nil {
				errs <- err
			}
		}(i)
		go func() {
			defer wg.Done()
			got, err := os.ReadFile(p)
			if err != nil {
				errs <- err
				return
			}
			if len(got) != len(data) {
				errs <- syscall.EIO
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := os.ReadFile(filepath.Join(l.upper, "big"))
	lo, _ := os.ReadFile(filepath.Join(l.lowers[0], "big"))
	t.Logf("upper head %q mount head %q lower head %q", up[:64], got[:64], lo[:16])
	for i := 0; i < 8; i++ {
		if got[i*8] != 'A'+byte(i) {
			t.Errorf("write %d lost: byte %d = %q", i, i*8, got[i*8])
		}
	}
	if !bytes.Equal(got[64:], data[64:]) {
		t.Error("copied-up data differs from the lower beyond the writes")
	}
}

// TestInodeStableAcrossRemount: a copied-up file keeps its st_ino after
// the union is mounted again.
func TestInodeStableAcrossRemount(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	writeFile(t, filepath.Join(l.lowers[0], "f"), "x")
	ino := func() uint64 {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(l.mnt, "f"), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	var before, after, again uint64
	t.Run("first mount", func(t *testing.T) {
		l.mount(t, false, time.Minute)
		before = ino()
		if err := os.Chmod(filepath.Join(l.mnt, "f"), 0o600); err != nil {
			t.Fatal(err)
		}
		after = ino()
	})
	t.Run("second mount", func(t *testing.T) {
		l.mount(t, false, time.Minute)
		again = ino()
	})
	if before != after || after != again {
		t.Errorf("st_ino before copy-up %d, after %d, after remount %d", before, after, again)
	}
}

// TestReadOnly: without an upper every change is EROFS.
func TestReadOnly(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	writeFile(t, filepath.Join(l.lowers[0], "f"), "x")
	l.mount(t, true, time.Minute)
	cases := []struct {
		name string
		op   func() error
	}{
		{name: "write", op: func() error { return os.WriteFile(filepath.Join(l.mnt, "f"), nil, 0) }},
		{name: "create", op: func() error { return os.WriteFile(filepath.Join(l.mnt, "g"), nil, 0o644) }},
		{name: "unlink", op: func() error { return os.Remove(filepath.Join(l.mnt, "f")) }},
		{name: "chmod", op: func() error { return os.Chmod(filepath.Join(l.mnt, "f"), 0) }},
		{name: "mkdir", op: func() error { return os.Mkdir(filepath.Join(l.mnt, "d"), 0o755) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.op(); !errorIs(err, syscall.EROFS) {
				t.Errorf("got %v, want EROFS", err)
			}
		})
	}
}

func errorIs(err error, want syscall.Errno) bool {
	var e syscall.Errno
	for err != nil {
		if x, ok := err.(syscall.Errno); ok {
			e = x
			break
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return e == want
}

func TestConcurrentCopyUpNoPassthrough(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	data := bytes.Repeat([]byte("lamina!\n"), 4<<20)
	if err := os.WriteFile(filepath.Join(l.lowers[0], "big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	l.mount(t, false, 2*time.Minute, WithPassthrough(PassthroughOff))
	p := filepath.Join(l.mnt, "big")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			f.WriteAt([]byte{'A' + byte(i)}, int64(i)*8)
		}(i)
		go func() { defer wg.Done(); os.ReadFile(p) }()
	}
	wg.Wait()
	got, _ := os.ReadFile(p)
	for i := 0; i < 8; i++ {
		if got[i*8] != 'A'+byte(i) {
			t.Errorf("write %d lost", i)
		}
	}
}

// TestPassthroughStaleFD pins what the package doc promises when the
// kernel passes a lower file through: a write-open still works (the node is
// retired and the kernel retries on a new inode), st_ino stays, new opens
// see the new data, and the descriptor opened before keeps the old.
func TestPassthroughStaleFD(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	writeFile(t, filepath.Join(l.lowers[0], "f"), "old\n")
	l.mount(t, false, time.Minute, WithPassthrough(PassthroughOn))
	p := filepath.Join(l.mnt, "f")
	var before, after unix.Stat_t
	if err := unix.Stat(p, &before); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := os.WriteFile(p, []byte("new\n"), 0o644); err != nil {
		t.Fatalf("write-open while a reader holds the lower file: %v", err)
	}
	if err := unix.Stat(p, &after); err != nil {
		t.Fatal(err)
	}
	if before.Ino != after.Ino {
		t.Errorf("st_ino changed from %d to %d", before.Ino, after.Ino)
	}
	if got, _ := os.ReadFile(p); string(got) != "new\n" {
		t.Errorf("a new open reads %q, want the new data", got)
	}
	buf := make([]byte, 16)
	n, _ := ro.ReadAt(buf, 0)
	if string(buf[:n]) != "old\n" && string(buf[:n]) != "new\n" {
		t.Errorf("the old descriptor reads %q", buf[:n])
	}
	t.Logf("the old descriptor reads %q (passthrough granted: %v)", buf[:n], string(buf[:n]) == "old\n")
}

// TestCreateNeverReplacesRealEntry: if the upper gains an entry behind the
// mount, creating that name through the union fails with EEXIST instead of
// replacing the entry.
func TestCreateNeverReplacesRealEntry(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	l.mount(t, false, time.Minute) // negative entries cached: the kernel will not look again
	p := filepath.Join(l.mnt, "f")
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("f exists before the test: %v", err)
	}
	writeFile(t, filepath.Join(l.upper, "f"), "precious")
	// The kernel still believes f absent and sends CREATE; lamina finds a
	// real entry where it expected at most a whiteout.
	// (O_EXCL would make the kernel revalidate the entry first.)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		f.Close()
	}
	if got, _ := os.ReadFile(filepath.Join(l.upper, "f")); string(got) != "precious" {
		t.Errorf("the upper's file became %q (create returned %v)", got, err)
	}
}
