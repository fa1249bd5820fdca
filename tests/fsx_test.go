package tests

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fsxMax bounds the file the exerciser works on.
const fsxMax = 1 << 20

// TestFSX is a file system exerciser in the manner of fsx: seeded random
// reads, writes, mapped reads and writes, truncations, hole punches, zero
// ranges, fallocates, copy_file_range within the file, O_DIRECT reads,
// fsyncs and reopens, on one file that starts in the lower layer, each
// result checked against a model of what the file must hold. Reads also go
// through a read-only descriptor opened before the first write copied the
// file up, except with passthrough, where such a descriptor keeps reading
// the lower file (unionfs doc, Passthrough). It checks
// the data path (copy-up, the page cache, passthrough, writeback of mapped
// pages) where the differential tests check names and metadata. It runs
// on kernel overlayfs too, which pins the model. LAMINA_FSX_OPS (default
// 1500) and LAMINA_FSX_SEEDS (default 2) size it.
func TestFSX(t *testing.T) {
	requireMountEnv(t)
	watchdog(t, 5*time.Minute)
	nops := envInt(t, "LAMINA_FSX_OPS", 1500)
	seeds := envInt(t, "LAMINA_FSX_SEEDS", 2)
	run := func(t *testing.T, earlyRO bool, mount func(lower, upper, work, mnt string), unmount func(mnt string)) {
		for seed := int64(1); seed <= int64(seeds); seed++ {
			root := t.TempDir()
			lower, upper, work, mnt := root+"/lower", root+"/upper", root+"/work", root+"/mnt"
			mustMkdirAll(t, lower, upper, work, mnt)
			r := rand.New(rand.NewSource(seed))
			model := make([]byte, 64<<10+r.Intn(64<<10))
			r.Read(model)
			if err := os.WriteFile(lower+"/f", model, 0o644); err != nil {
				t.Fatal(err)
			}
			mount(lower, upper, work, mnt)
			x := &fsx{r: r, path: filepath.Join(mnt, "f"), model: model, ro: -1}
			if earlyRO {
				var err error
				if x.ro, err = unix.Open(x.path, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
					t.Fatal(err)
				}
			}
			err := x.run(nops)
			x.closeAll()
			if err == nil {
				err = x.check("after close")
			}
			unmount(mnt)
			if err == nil {
				x.path = filepath.Join(upper, "f")
				err = x.check("in the upper layer after unmount")
			}
			if err != nil {
				t.Fatalf("seed %d: %v\nlast ops:\n%s", seed, err, strings.Join(x.log, "\n"))
			}
		}
	}
	t.Run("kernel", func(t *testing.T) {
		run(t, true, func(l, u, w, m string) { mountKernel(t, []string{l}, u, w, m) }, func(m string) { unmountKernel(t, m) })
	})
	for _, opt := range subjectModes() {
		t.Run("subject "+opt, func(t *testing.T) {
			run(t, opt != "passthrough=on", func(l, u, w, m string) {
				var extra []string
				if opt != "" {
					extra = append(extra, opt)
				}
				mountSubject(t, []string{l}, u, w, m, extra...)
			}, func(m string) { unmountSubject(t, m) })
		})
	}
}

// fsx holds the exerciser's state: the file, a read-write descriptor on
// it (-1 between a close and a reopen), and the model of its bytes.
type fsx struct {
	r     *rand.Rand
	path  string
	fd    int
	ro    int // opened before copy-up; -1 if none
	model []byte
	log   []string // the last ops, for a failure's report
}

func (x *fsx) logf(format string, a ...any) {
	x.log = append(x.log, fmt.Sprintf(format, a...))
	if len(x.log) > 20 {
		x.log = x.log[1:]
	}
}

// run does n random ops, checking each one's result.
func (x *fsx) run(n int) error {
	var err error
	if x.fd, err = unix.Open(x.path, unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	for i := 0; i < n && err == nil; i++ {
		err = x.op(i)
	}
	return err
}

func (x *fsx) close() {
	if x.fd >= 0 {
		unix.Close(x.fd)
		x.fd = -1
	}
}

// closeAll closes the read-write and the read-only descriptors.
func (x *fsx) closeAll() {
	x.close()
	if x.ro >= 0 {
		unix.Close(x.ro)
		x.ro = -1
	}
}

// span picks an offset and a length, mostly inside the file and
// sometimes past its end, bounded by fsxMax.
func (x *fsx) span() (int64, int) {
	size := len(x.model)
	off := x.r.Intn(size + 1 + size/8)
	if x.r.Intn(4) == 0 {
		off &^= 4095 // page-aligned, where the page cache's edges are
	}
	n := 1 + x.r.Intn(64<<10)
	if off+n > fsxMax {
		n = fsxMax - off
	}
	if n <= 0 {
		off, n = 0, 1
	}
	return int64(off), n
}

// resize grows or shrinks the model to size; new bytes are zeros.
func (x *fsx) resize(size int) {
	if size <= len(x.model) {
		x.model = x.model[:size]
		return
	}
	x.model = append(x.model, make([]byte, size-len(x.model))...)
}

func (x *fsx) op(i int) error {
	off, n := x.span()
	switch k := x.r.Intn(100); {
	case k < 20:
		fd, which := x.fd, "pread"
		if x.ro >= 0 && x.r.Intn(2) == 0 {
			fd, which = x.ro, "pread (early read-only descriptor)"
		}
		x.logf("%d %s off=%d n=%d", i, which, off, n)
		buf := make([]byte, n)
		got, err := unix.Pread(fd, buf, off)
		if err != nil {
			return fmt.Errorf("op %d %s: %w", i, which, err)
		}
		return x.compare(i, which, off, buf[:got])
	case k < 40:
		x.logf("%d pwrite off=%d n=%d", i, off, n)
		buf := make([]byte, n)
		x.r.Read(buf)
		if _, err := unix.Pwrite(x.fd, buf, off); err != nil {
			return fmt.Errorf("op %d pwrite: %w", i, err)
		}
		if end := int(off) + n; end > len(x.model) {
			x.resize(end)
		}
		copy(x.model[off:], buf)
	case k < 50:
		return x.mapped(i, off, n, false)
	case k < 60:
		return x.mapped(i, off, n, true)
	case k < 66:
		size := x.r.Intn(fsxMax)
		if x.r.Intn(2) == 0 {
			size = x.r.Intn(len(x.model) + 1)
		}
		x.logf("%d ftruncate %d", i, size)
		if err := unix.Ftruncate(x.fd, int64(size)); err != nil {
			return fmt.Errorf("op %d ftruncate: %w", i, err)
		}
		x.resize(size)
	case k < 72:
		return x.fallocate(i, off, n)
	case k < 78:
		return x.copyRange(i, n)
	case k < 84:
		return x.directRead(i, off, n)
	case k < 88:
		x.logf("%d fsync", i)
		if err := unix.Fsync(x.fd); err != nil {
			return fmt.Errorf("op %d fsync: %w", i, err)
		}
	case k < 92:
		x.logf("%d close and reopen", i)
		x.close()
		var err error
		if x.fd, err = unix.Open(x.path, unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("op %d reopen: %w", i, err)
		}
	default:
		x.logf("%d fstat and whole read", i)
		return x.check(fmt.Sprintf("op %d", i))
	}
	return nil
}

// mapped reads or writes [off, off+n) of the file through a shared
// mapping, clipped to the file's size (a mapping cannot grow a file).
func (x *fsx) mapped(i int, off int64, n int, write bool) error {
	if int(off) >= len(x.model) {
		return nil
	}
	n = min(n, len(x.model)-int(off))
	pg := off &^ 4095
	x.logf("%d mmap write=%v off=%d n=%d", i, write, off, n)
	prot := unix.PROT_READ
	if write {
		prot |= unix.PROT_WRITE
	}
	m, err := unix.Mmap(x.fd, pg, int(off-pg)+n, prot, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("op %d mmap: %w", i, err)
	}
	defer unix.Munmap(m)
	region := m[off-pg:]
	if !write {
		return x.compare(i, "mapped read", off, append([]byte(nil), region...))
	}
	buf := make([]byte, n)
	x.r.Read(buf)
	copy(region, buf)
	copy(x.model[off:], buf)
	if x.r.Intn(2) == 0 {
		if err := unix.Msync(m, unix.MS_SYNC); err != nil {
			return fmt.Errorf("op %d msync: %w", i, err)
		}
	}
	return nil
}

// fallocate punches a hole, zeroes a range, or allocates (keeping the
// size or growing the file).
func (x *fsx) fallocate(i int, off int64, n int) error {
	modes := []struct {
		name string
		mode uint32
	}{
		{"punch hole", unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE},
		{"zero range", unix.FALLOC_FL_ZERO_RANGE},
		{"zero range keep size", unix.FALLOC_FL_ZERO_RANGE | unix.FALLOC_FL_KEEP_SIZE},
		{"allocate", 0},
		{"allocate keep size", unix.FALLOC_FL_KEEP_SIZE},
	}
	m := modes[x.r.Intn(len(modes))]
	x.logf("%d fallocate %s off=%d n=%d", i, m.name, off, n)
	if err := unix.Fallocate(x.fd, m.mode, off, int64(n)); err != nil {
		return fmt.Errorf("op %d fallocate %s: %w", i, m.name, err)
	}
	end := int(off) + n
	if m.mode&unix.FALLOC_FL_KEEP_SIZE == 0 && end > len(x.model) {
		x.resize(end)
	}
	if m.mode&(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_ZERO_RANGE) != 0 && int(off) < len(x.model) {
		clear(x.model[off:min(end, len(x.model))])
	}
	return nil
}

// copyRange copies n bytes of the file within itself, between ranges
// that do not overlap (copy_file_range refuses overlapping ones).
func (x *fsx) copyRange(i int, n int) error {
	if len(x.model) < 2 {
		return nil
	}
	n = 1 + n%(len(x.model)/2)
	src := int64(x.r.Intn(len(x.model) - n + 1))
	dst := int64(x.r.Intn(min(len(x.model)+n, fsxMax-n) + 1))
	if dst < src+int64(n) && src < dst+int64(n) {
		return nil // overlapping
	}
	x.logf("%d copy_file_range src=%d dst=%d n=%d", i, src, dst, n)
	s, d := src, dst
	for done := 0; done < n; {
		k, err := unix.CopyFileRange(x.fd, &s, x.fd, &d, n-done, 0)
		if err != nil {
			return fmt.Errorf("op %d copy_file_range: %w", i, err)
		}
		if k == 0 {
			return fmt.Errorf("op %d copy_file_range: copied %d of %d bytes", i, done, n)
		}
		done += k
	}
	chunk := append([]byte(nil), x.model[src:src+int64(n)]...)
	if end := int(dst) + n; end > len(x.model) {
		x.resize(end)
	}
	copy(x.model[dst:], chunk)
	return nil
}

// directRead reads page-aligned through a new O_DIRECT descriptor, which
// bypasses the page cache: mapped and buffered writes must reach the file
// first.
func (x *fsx) directRead(i int, off int64, n int) error {
	off &^= 4095
	n = (n + 4095) &^ 4095
	x.logf("%d O_DIRECT read off=%d n=%d", i, off, n)
	fd, err := unix.Open(x.path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("op %d open O_DIRECT: %w", i, err)
	}
	defer unix.Close(fd)
	buf := alignedBuf(n)
	got, err := unix.Pread(fd, buf, off)
	if err != nil {
		return fmt.Errorf("op %d O_DIRECT pread: %w", i, err)
	}
	return x.compare(i, "O_DIRECT read", off, buf[:got])
}

// alignedBuf returns n bytes aligned to a page, as O_DIRECT wants.
func alignedBuf(n int) []byte {
	b := make([]byte, n+4096)
	a := int((4096 - uintptr(unsafe.Pointer(&b[0]))%4096) % 4096)
	return b[a : a+n]
}

// compare checks that got, read at off, is what the model holds there.
func (x *fsx) compare(i int, what string, off int64, got []byte) error {
	var want []byte
	if int(off) < len(x.model) {
		want = x.model[off:min(int(off)+len(got), len(x.model))]
	}
	if len(got) > len(want) || !bytes.Equal(got, want[:len(got)]) {
		at := firstDiff(got, want)
		return fmt.Errorf("op %d %s at %d: %d bytes, first difference at file offset %d (model holds %d bytes)",
			i, what, off, len(got), off+int64(at), len(x.model))
	}
	if len(got) < len(want) && what != "O_DIRECT read" {
		return fmt.Errorf("op %d %s at %d: short read, %d of %d bytes", i, what, off, len(got), len(want))
	}
	return nil
}

// check reads the whole file by path and compares size and bytes.
func (x *fsx) check(when string) error {
	got, err := os.ReadFile(x.path)
	if err != nil {
		return fmt.Errorf("%s: read %s: %w", when, x.path, err)
	}
	if len(got) != len(x.model) || !bytes.Equal(got, x.model) {
		return fmt.Errorf("%s: %s holds %d bytes, model %d; first difference at %d",
			when, x.path, len(got), len(x.model), firstDiff(got, x.model))
	}
	return nil
}
