package copyup

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// The methods CopyData reports.
const (
	MethodClone         = "clone"           // FICLONE: extents shared, nothing copied
	MethodCopyFileRange = "copy_file_range" // in-kernel copy
	MethodReadWrite     = "readwrite"       // pread/pwrite through a user buffer
)

// chunkSize is how much data is copied between two checks of the context.
const chunkSize = 8 << 20

// CopyData copies only file data from src to an already-open destination
// fd, from the start, preserving holes (used by Copy; exported for the
// union's truncate path and benchmarks). Returns which method was used for
// the biggest part: "clone", "copy_file_range", "readwrite".
//
// dst must be open for writing and not in append mode. It is first
// truncated to zero, then receives the first size bytes of src, and ends
// exactly size bytes long: a size beyond src's end is a hole. Both files'
// offsets are left undefined. For a file with no data to copy, the method
// reported is the one that would have been used. On error dst's content is
// undefined; the context is checked every 8 MiB.
func CopyData(ctx context.Context, dst, src *os.File, size int64) (method string, err error) {
	return copyData(ctx, dst, src, size, MethodClone)
}

// copyData is CopyData starting the fallback chain at first (a Method*),
// so that tests and benchmarks can force the later methods.
func copyData(ctx context.Context, dst, src *os.File, size int64, first string) (string, error) {
	defer runtime.KeepAlive(dst)
	defer runtime.KeepAlive(src)
	j := dataJob{
		dfd: int(dst.Fd()), sfd: int(src.Fd()),
		dstName: dst.Name(), srcName: src.Name(),
		size: size, first: first,
	}
	if err := unix.Fstat(j.sfd, &j.srcSt); err != nil {
		return "", &os.PathError{Op: "fstat", Path: src.Name(), Err: err}
	}
	if err := unix.Ftruncate(j.dfd, 0); err != nil {
		return "", &os.PathError{Op: "truncate", Path: dst.Name(), Err: err}
	}
	return j.run(ctx)
}

// dataJob is one data copy into an empty destination: what CopyData does
// after truncating, and what a copy-up does into the temp file it has just
// created (truncating a new file is not free: on ext4 it arms a flush of
// the whole file at close, the "auto_da_alloc" heuristic).
type dataJob struct {
	dfd, sfd         int
	dstName, srcName string      // for errors
	srcSt            unix.Stat_t // fstat of sfd
	size             int64       // bytes the destination ends with
	first            string      // the first method to try (Method*)
	refused          *refusals   // the methods known to fail for this source; nil: none known
	writeback        bool        // start writeback of every full chunk (the caller fsyncs at the end)
}

// run copies, leaving the destination exactly j.size bytes long.
func (j *dataJob) run(ctx context.Context) (string, error) {
	if j.size < 0 {
		return "", fmt.Errorf("copy data: size %d: %w", j.size, unix.EINVAL)
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	dev := j.srcSt.Dev
	d := &dataCopy{dfd: j.dfd, sfd: j.sfd, useCFR: j.first != MethodReadWrite && !j.refused.has(refusedCFR, dev),
		writeback: j.writeback, refused: j.refused, dev: dev}
	end := min(j.size, j.srcSt.Size)
	method := ""
	if j.first == MethodClone && end > 0 && !j.refused.has(refusedClone, dev) {
		err := unix.IoctlFileClone(j.dfd, j.sfd)
		switch {
		case err == nil:
			method = MethodClone // holes and all, up to src's size
			d.written = j.srcSt.Size
		case isErrno(err, unix.EOPNOTSUPP, unix.EXDEV, unix.ENOTTY):
			j.refused.add(refusedClone, dev) // the filesystems say no, not this file
		case !isErrno(err, unix.EINVAL):
			return "", fmt.Errorf("clone %s: %w", j.srcName, err)
		}
	}
	if method == "" {
		if end >= chunkSize {
			// A long sequential read: let the kernel read further ahead.
			// Only a hint; a refusal changes nothing.
			_ = unix.Fadvise(j.sfd, 0, 0, unix.FADV_SEQUENTIAL)
		}
		copyExtent := func(off, end int64) error { return d.copyRange(ctx, off, end) }
		var err error
		if noHoleSearch(&j.srcSt, end) {
			err = copyExtent(0, end)
		} else {
			err = forEachData(j.sfd, end, copyExtent)
		}
		if err != nil {
			return "", err
		}
		method = d.method()
	}
	if d.written != j.size {
		if err := unix.Ftruncate(j.dfd, j.size); err != nil {
			return "", &os.PathError{Op: "truncate", Path: j.dstName, Err: err}
		}
	}
	return method, nil
}

// noHoleSearch reports whether the first end bytes of the file st
// describes are small (at most 4 KiB, a block on most filesystems) and
// covered by allocated blocks, so that looking for holes (two lseeks) is
// not worth it. st_blocks also counts blocks beyond the end (fallocate
// KEEP_SIZE) and, on ext4, an xattr block: then up to 4 KiB of hole are
// copied as zeros, which changes no byte. A file with nothing allocated
// may be all hole (or keep its data inline) and is searched.
func noHoleSearch(st *unix.Stat_t, end int64) bool {
	return end <= 4096 && st.Blocks > 0 && st.Blocks*512 >= end
}

// forEachData calls fn for each data extent of fd below end, in order,
// clipped to end. Without SEEK_DATA support everything is data.
func forEachData(fd int, end int64, fn func(off, end int64) error) error {
	for off := int64(0); off < end; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		switch {
		case err == unix.ENXIO:
			return nil // only a hole remains
		case err == unix.EINVAL:
			return fn(off, end)
		case err != nil:
			return fmt.Errorf("seek data: %w", err)
		case data >= end:
			return nil
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole: %w", err)
		}
		hole = min(hole, end)
		if err := fn(data, hole); err != nil {
			return err
		}
		off = hole
	}
	return nil
}
