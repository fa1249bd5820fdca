package uring

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

func TestParseCPUList(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     int
		bad      bool
	}{
		{name: "one", in: "0", want: 1},
		{name: "range", in: "0-1", want: 2},
		{name: "ranges and singles", in: "0-3,5,7-8", want: 7},
		{name: "empty", in: "", bad: true},
		{name: "reversed", in: "3-1", bad: true},
		{name: "garbage", in: "0-x", bad: true},
		{name: "negative", in: "-1", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCPUList(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("parseCPUList(%q) = %d, want an error", tc.in, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseCPUList(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

// loopback mounts a go-fuse loopback of a fresh directory, asking for
// io_uring when ring, and returns the source, the mountpoint and server.
func loopback(t *testing.T, ring bool) (string, string, *fuse.Server, fuse.RawFileSystem) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount FUSE")
	}
	if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
		t.Skipf("needs /dev/fuse: %v", err)
	}
	base := t.TempDir()
	src, mnt := filepath.Join(base, "src"), filepath.Join(base, "mnt")
	for _, d := range []string{src, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	root, err := fs.NewLoopbackRoot(src)
	if err != nil {
		t.Fatal(err)
	}
	opts := &fs.Options{MountOptions: fuse.MountOptions{DirectMount: true, MaxWrite: 1 << 20, FsName: "uringtest"}}
	if ring {
		opts.ExtraCapabilities = fuse.CAP_OVER_IO_URING
	}
	raw := fs.NewNodeFS(root, opts)
	srv, err := fuse.NewServer(raw, mnt, &opts.MountOptions)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	go srv.Serve()
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	return src, mnt, srv, raw
}

func TestDeviceFd(t *testing.T) {
	_, _, srv, _ := loopback(t, false)
	fd, err := deviceFd(srv)
	if err != nil {
		t.Fatalf("deviceFd: %v", err)
	}
	defer unix.Close(fd)
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil || link != "/dev/fuse" {
		t.Fatalf("descriptor %d is %q (%v), want /dev/fuse", fd, link, err)
	}
}

// waitTimeout fails the test if fn does not return within d.
func waitTimeout(t *testing.T, what string, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { fn(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s still waiting after %v", what, d)
	}
}

// TestTransport serves a loopback file system through the rings and checks
// each kind of request against the source directory.
func TestTransport(t *testing.T) {
	if !Available() {
		t.Skipf("skipping: %v", ErrUnavailable)
	}
	src, mnt, srv, raw := loopback(t, true)
	tr, err := Start(srv, raw, WithMaxWrite(1<<20))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	// go-fuse's start-up probe, answered by dispatch: without it a poll
	// of a file here can block a goroutine that holds a scheduler slot.
	if err := srv.WaitMount(); err != nil {
		t.Fatalf("WaitMount (start-up probe): %v", err)
	}
	big := make([]byte, 3<<20+17) // several maximal WRITEs and READs
	rand.Read(big)
	p := func(name string) string { return filepath.Join(mnt, name) }
	steps := []struct {
		name string
		run  func() error
	}{
		{"create and write", func() error { return os.WriteFile(p("big"), big, 0o640) }},
		{"read", func() error {
			got, err := os.ReadFile(p("big"))
			if err == nil && !bytes.Equal(got, big) {
				err = errors.New("content differs")
			}
			return err
		}},
		{"stat", func() error {
			fi, err := os.Stat(p("big"))
			if err == nil && (fi.Size() != int64(len(big)) || fi.Mode().Perm() != 0o640) {
				err = fmt.Errorf("size %d mode %v", fi.Size(), fi.Mode())
			}
			return err
		}},
		{"mkdir and readdir", func() error {
			for _, n := range []string{"d", "d/a", "d/b", "d/c"} {
				if err := os.Mkdir(p(n), 0o755); err != nil {
					return err
				}
			}
			names, err := os.ReadDir(p("d"))
			if err != nil {
				return err
			}
			var got []string
			for _, n := range names {
				got = append(got, n.Name())
			}
			if !slices.Equal(got, []string{"a", "b", "c"}) {
				return fmt.Errorf("listing %v", got)
			}
			return nil
		}},
		{"symlink and readlink", func() error {
			if err := os.Symlink("big", p("link")); err != nil {
				return err
			}
			target, err := os.Readlink(p("link"))
			if err == nil && target != "big" {
				err = fmt.Errorf("target %q", target)
			}
			return err
		}},
		{"rename", func() error { return os.Rename(p("d/a"), p("d/z")) }},
		{"xattrs", func() error {
			if err := unix.Setxattr(p("big"), "user.k", []byte("value"), 0); err != nil {
				return err
			}
			n, err := unix.Getxattr(p("big"), "user.k", nil) // the size alone
			if err != nil || n != 5 {
				return fmt.Errorf("size query: %d, %v", n, err)
			}
			buf := make([]byte, 64)
			n, err = unix.Getxattr(p("big"), "user.k", buf)
			if err != nil || string(buf[:n]) != "value" {
				return fmt.Errorf("get: %q, %v", buf[:n], err)
			}
			n, err = unix.Listxattr(p("big"), buf)
			if err != nil || !bytes.Contains(buf[:n], []byte("user.k\x00")) {
				return fmt.Errorf("list: %q, %v", buf[:n], err)
			}
			if _, err := unix.Getxattr(p("big"), "user.none", buf); err != unix.ENODATA {
				return fmt.Errorf("missing attribute: %v, want ENODATA", err)
			}
			return unix.Removexattr(p("big"), "user.k")
		}},
		{"truncate and fsync", func() error {
			f, err := os.OpenFile(p("big"), os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := f.Truncate(10); err != nil {
				return err
			}
			return f.Sync()
		}},
		{"statfs", func() error {
			var st unix.Statfs_t
			return unix.Statfs(mnt, &st)
		}},
		{"unlink and rmdir", func() error {
			if err := os.Remove(p("link")); err != nil {
				return err
			}
			return os.RemoveAll(p("d"))
		}},
		{"errors pass through", func() error {
			if _, err := os.Stat(p("missing")); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("stat of a missing name: %v", err)
			}
			return nil
		}},
	}
	for _, s := range steps {
		before := tr.Served()
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if tr.Served() == before {
			t.Errorf("%s: no request went through the rings", s.name)
		}
	}
	if fi, err := os.Stat(filepath.Join(src, "big")); err != nil || fi.Size() != 10 {
		t.Errorf("source after truncate: %v, %v", fi, err)
	}

	// Callers on both CPUs at once.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := p(fmt.Sprintf("c%d", i))
			for j := range 50 {
				if err := os.WriteFile(name, []byte{byte(j)}, 0o644); err != nil {
					t.Errorf("concurrent write: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := tr.Err(); err != nil {
		t.Errorf("transport: %v", err)
	}

	if err := srv.Unmount(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	waitTimeout(t, "ring workers after unmount", 20*time.Second, tr.Wait)
	waitTimeout(t, "go-fuse after unmount", 20*time.Second, srv.Wait)
}

// TestInputsFit: every input struct dispatch casts must fit in a worker's
// in buffer (the in-header plus the ring's 128-byte argument area).
func TestInputsFit(t *testing.T) {
	var w worker
	for _, tc := range []struct {
		name string
		size uintptr
	}{
		{"GetAttrIn", unsafe.Sizeof(fuse.GetAttrIn{})},
		{"SetAttrIn", unsafe.Sizeof(fuse.SetAttrIn{})},
		{"MknodIn", unsafe.Sizeof(fuse.MknodIn{})},
		{"MkdirIn", unsafe.Sizeof(fuse.MkdirIn{})},
		{"RenameIn", unsafe.Sizeof(fuse.RenameIn{})},
		{"LinkIn", unsafe.Sizeof(fuse.LinkIn{})},
		{"OpenIn", unsafe.Sizeof(fuse.OpenIn{})},
		{"CreateIn", unsafe.Sizeof(fuse.CreateIn{})},
		{"ReadIn", unsafe.Sizeof(fuse.ReadIn{})},
		{"WriteIn", unsafe.Sizeof(fuse.WriteIn{})},
		{"ReleaseIn", unsafe.Sizeof(fuse.ReleaseIn{})},
		{"FsyncIn", unsafe.Sizeof(fuse.FsyncIn{})},
		{"FlushIn", unsafe.Sizeof(fuse.FlushIn{})},
		{"SetXAttrIn", unsafe.Sizeof(fuse.SetXAttrIn{})},
		{"GetXAttrIn", unsafe.Sizeof(fuse.GetXAttrIn{})},
		{"LkIn", unsafe.Sizeof(fuse.LkIn{})},
		{"AccessIn", unsafe.Sizeof(fuse.AccessIn{})},
		{"IoctlIn", unsafe.Sizeof(fuse.IoctlIn{})},
		{"FallocateIn", unsafe.Sizeof(fuse.FallocateIn{})},
		{"LseekIn", unsafe.Sizeof(fuse.LseekIn{})},
		{"CopyFileRangeIn", unsafe.Sizeof(fuse.CopyFileRangeIn{})},
		{"StatxIn", unsafe.Sizeof(fuse.StatxIn{})},
	} {
		if tc.size > uintptr(len(w.in)) {
			t.Errorf("%s is %d bytes; a worker's in buffer holds %d", tc.name, tc.size, len(w.in))
		}
	}
}

// TestRefusedRegistration: when the kernel refuses the entries (here:
// payload buffers smaller than the connection's largest request), Start
// fails and the connection goes on through /dev/fuse.
func TestRefusedRegistration(t *testing.T) {
	if !Available() {
		t.Skipf("skipping: %v", ErrUnavailable)
	}
	src, mnt, srv, raw := loopback(t, true)
	if err := os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if tr, err := Start(srv, raw, WithMaxWrite(4096)); err == nil {
		t.Fatalf("Start with small buffers succeeded (%d served)", tr.Served())
	} else if !errors.Is(err, unix.EINVAL) {
		t.Errorf("Start: %v, want EINVAL from the kernel", err)
	}
	// The start-up probe first, as Mount does: until it has run, Go's
	// os.Open of a file on the mount registers it with epoll, and the
	// kernel asks this very process for POLL from inside epoll_ctl, a
	// system call that keeps its scheduler slot (see the package doc).
	// The read itself uses plain system calls, which never poll.
	waitTimeout(t, "the start-up probe through /dev/fuse", 20*time.Second, func() {
		if err := srv.WaitMount(); err != nil {
			t.Errorf("WaitMount after the refusal: %v", err)
		}
	})
	waitTimeout(t, "a read through /dev/fuse", 20*time.Second, func() {
		if b, err := readRaw(filepath.Join(mnt, "f")); err != nil || string(b) != "data" {
			t.Errorf("read after the refusal: %q, %v", b, err)
		}
	})
}

// readRaw reads up to 4 KiB of the file at path with open and read system
// calls, without Go's poller.
func readRaw(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	b := make([]byte, 4096)
	n, err := unix.Read(fd, b)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}
