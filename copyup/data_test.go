package copyup

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestCopyData runs every file shape through each starting point of the
// fallback chain, so that all methods are exercised whatever the
// filesystem supports.
func TestCopyData(t *testing.T) {
	const mib = 1 << 20
	shapes := []struct {
		name  string
		build func(t *testing.T, p string) // source
		size  func(srcSize int64) int64    // size asked of CopyData
		// maxDisk bounds the copy's allocated bytes; 0 means no bound.
		maxDisk int64
	}{
		{"empty", func(t *testing.T, p string) { writeAt(t, p, 0, nil) }, same, 0},
		{"tiny", func(t *testing.T, p string) { writeAt(t, p, 0, []byte("hello")) }, same, 0},
		{"one block", func(t *testing.T, p string) { writeAt(t, p, 0, pattern(4096, 3)) }, same, 0},
		{"tiny, longer than source", func(t *testing.T, p string) { writeAt(t, p, 0, []byte("hello")) }, func(n int64) int64 { return n + 8192 }, 0},
		{"one block of hole", func(t *testing.T, p string) {
			writeAt(t, p, 0, nil)
			mustNoErr(t, os.Truncate(p, 4096))
		}, same, 1},
		{"several chunks", func(t *testing.T, p string) { writeAt(t, p, 0, pattern(2*chunkSize+3, 5)) }, same, 0},
		{"holes in the middle and at the end", func(t *testing.T, p string) {
			writeAt(t, p, 0, pattern(4096, 6))
			writeAt(t, p, 12*mib, pattern(4096, 7))
			mustNoErr(t, os.Truncate(p, 30*mib))
		}, same, 1 * mib},
		{"all hole", func(t *testing.T, p string) {
			writeAt(t, p, 0, nil)
			mustNoErr(t, os.Truncate(p, 16*mib))
		}, same, 64 << 10},
		{"shorter than source", func(t *testing.T, p string) { writeAt(t, p, 0, pattern(3*mib, 8)) }, func(n int64) int64 { return n / 3 }, 0},
		{"longer than source", func(t *testing.T, p string) { writeAt(t, p, 0, pattern(mib, 9)) }, func(n int64) int64 { return n + 5*mib }, 2 * mib},
	}
	starts := []string{MethodClone, MethodCopyFileRange, MethodReadWrite}
	// "over junk" is CopyData into a used file, which it must truncate;
	// "into new" is a copy-up's copy into the temp file it just created,
	// which skips the truncation.
	for _, into := range []string{"over junk", "into new"} {
		for _, sh := range shapes {
			for _, first := range starts {
				t.Run(into+"/"+sh.name+"/from "+first, func(t *testing.T) {
					ctx := testCtx(t, 30*time.Second)
					dir := t.TempDir()
					srcPath := filepath.Join(dir, "src")
					sh.build(t, srcPath)
					src, err := os.Open(srcPath)
					mustNoErr(t, err)
					defer src.Close()
					dst, err := os.Create(filepath.Join(dir, "dst"))
					mustNoErr(t, err)
					defer dst.Close()

					size := sh.size(lstat(t, srcPath).Size)
					var method string
					if into == "over junk" {
						// Junk at the start, inside the sources' holes and
						// beyond their end must not survive.
						for _, off := range []int64{0, 6 * mib, 20 * mib, 40 * mib} {
							_, err = dst.WriteAt(bytes.Repeat([]byte{0xff}, 4096), off)
							mustNoErr(t, err)
						}
						method, err = copyData(ctx, dst, src, size, first)
					} else {
						j := dataJob{dfd: int(dst.Fd()), sfd: int(src.Fd()), dstName: dst.Name(), srcName: src.Name(),
							size: size, first: first, refused: new(refusals), writeback: true}
						mustNoErr(t, unix.Fstat(j.sfd, &j.srcSt))
						method, err = j.run(ctx)
					}
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case first == MethodReadWrite && method != MethodReadWrite,
						first == MethodCopyFileRange && method == MethodClone,
						method != MethodClone && method != MethodCopyFileRange && method != MethodReadWrite:
						t.Errorf("method = %q starting from %q", method, first)
					}
					want, err := os.ReadFile(srcPath)
					mustNoErr(t, err)
					want = append(want[:min(int64(len(want)), size)], make([]byte, max(0, size-int64(len(want))))...)
					got, err := os.ReadFile(dst.Name())
					mustNoErr(t, err)
					if !bytes.Equal(got, want) {
						t.Errorf("copy differs: %d bytes, want %d", len(got), len(want))
					}
					if used := lstat(t, dst.Name()).Blocks * 512; sh.maxDisk > 0 && used > sh.maxDisk {
						t.Errorf("copy allocates %d bytes, want <= %d (holes kept)", used, sh.maxDisk)
					}
				})
			}
		}
	}
}

func TestNoHoleSearch(t *testing.T) {
	tests := []struct {
		name   string
		blocks int64 // 512-byte units
		end    int64
		want   bool
	}{
		{"a 4 KiB block of data", 8, 4096, true},
		{"less than a block", 8, 5, true},
		{"more than 4 KiB", 16, 4097, false},
		{"nothing allocated", 0, 4096, false},
		{"1 KiB blocks with a hole", 6, 4096, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := unix.Stat_t{Blocks: tt.blocks, Blksize: 1 << 20}
			if got := noHoleSearch(&st, tt.end); got != tt.want {
				t.Errorf("noHoleSearch(blocks %d, end %d) = %v, want %v", tt.blocks, tt.end, got, tt.want)
			}
		})
	}
}

func same(n int64) int64 { return n }

// TestCopyDataReflink checks the FICLONE path on a filesystem that has it.
// Point COPYUP_REFLINK_DIR at a directory on xfs (reflink=1) or btrfs.
func TestCopyDataReflink(t *testing.T) {
	dir := os.Getenv("COPYUP_REFLINK_DIR")
	if dir == "" {
		t.Skip("set COPYUP_REFLINK_DIR to a directory on a reflink filesystem (xfs, btrfs)")
	}
	ctx := testCtx(t, 30*time.Second)
	dir, err := os.MkdirTemp(dir, "copyup-")
	mustNoErr(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	srcPath := filepath.Join(dir, "src")
	writeAt(t, srcPath, 0, pattern(8<<20, 10))
	src, err := os.Open(srcPath)
	mustNoErr(t, err)
	defer src.Close()
	dst, err := os.Create(filepath.Join(dir, "dst"))
	mustNoErr(t, err)
	defer dst.Close()
	method, err := CopyData(ctx, dst, src, 8<<20)
	mustNoErr(t, err)
	if method != MethodClone {
		t.Errorf("method = %q, want %q", method, MethodClone)
	}
	assertSameContent(t, srcPath, dst.Name())
}

// BenchmarkCopyData copies a 64 MiB file: "auto" is CopyData as Copy uses
// it; the others force a method of the fallback chain.
func BenchmarkCopyData(b *testing.B) {
	const size = 64 << 20
	dir := b.TempDir()
	srcPath := filepath.Join(dir, "src")
	writeAt(b, srcPath, 0, pattern(size, 11))
	for _, bc := range []struct{ name, first string }{
		{"auto", MethodClone},
		{MethodCopyFileRange, MethodCopyFileRange},
		{MethodReadWrite, MethodReadWrite},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := testCtx(b, 10*time.Minute)
			src, err := os.Open(srcPath)
			mustNoErr(b, err)
			defer src.Close()
			dst, err := os.Create(filepath.Join(dir, "dst-"+bc.name))
			mustNoErr(b, err)
			defer dst.Close()
			b.SetBytes(size)
			var method string
			for b.Loop() {
				if method, err = copyData(ctx, dst, src, size, bc.first); err != nil {
					b.Fatal(err)
				}
			}
			b.Logf("method %s", method)
		})
	}
}
