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
	if size < 0 {
		return "", fmt.Errorf("copy data: size %d: %w", size, unix.EINVAL)
	}
	d := &dataCopy{
		dfd:    int(dst.Fd()),
		sfd:    int(src.Fd()),
		useCFR: first != MethodReadWrite,
	}
	var st unix.Stat_t
	if err := unix.Fstat(d.sfd, &st); err != nil {
		return "", &os.PathError{Op: "fstat", Path: src.Name(), Err: err}
	}
	if err := unix.Ftruncate(d.dfd, 0); err != nil {
		return "", &os.PathError{Op: "truncate", Path: dst.Name(), Err: err}
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	end := min(size, st.Size)
	method := ""
	if first == MethodClone && end > 0 {
		err := unix.IoctlFileClone(d.dfd, d.sfd)
		switch {
		case err == nil:
			method = MethodClone // holes and all, up to src's size
		case !isErrno(err, unix.EOPNOTSUPP, unix.EXDEV, unix.EINVAL, unix.ENOTTY):
			return "", fmt.Errorf("clone %s: %w", src.Name(), err)
		}
	}
	if method == "" {
		err := forEachData(d.sfd, end, func(off, end int64) error { return d.copyRange(ctx, off, end) })
		if err != nil {
			return "", err
		}
		method = d.method()
	}
	if err := unix.Ftruncate(d.dfd, size); err != nil {
		return "", &os.PathError{Op: "truncate", Path: dst.Name(), Err: err}
	}
	return method, nil
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
