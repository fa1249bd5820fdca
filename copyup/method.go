package copyup

import (
	"context"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// bufPool holds the read/write loop's 1 MiB buffers.
var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 1<<20)
	return &b
}}

// dataCopy copies ranges between two fds at equal offsets, with
// copy_file_range until the kernel refuses it and read/write after. It is
// used by one goroutine.
type dataCopy struct {
	dfd, sfd  int
	useCFR    bool      // copy_file_range has not been refused yet
	writeback bool      // start writeback of each full chunk once copied
	refused   *refusals // where a refusal is remembered; may be nil
	dev       uint64    // the source's st_dev, the key in refused
	cfrBytes  int64     // bytes copied by copy_file_range
	loopBytes int64     // bytes copied by the read/write loop
	written   int64     // the destination's size: the end of the last range copied
}

// copyRange copies [off, end), checking ctx before every chunk.
func (d *dataCopy) copyRange(ctx context.Context, off, end int64) error {
	for off < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(chunkSize, end-off)
		if d.useCFR {
			done, err := d.copyFileRange(off, n)
			d.cfrBytes += done
			d.copied(off, done)
			off += done
			if isErrno(err, unix.EXDEV, unix.ENOSYS, unix.EOPNOTSUPP) {
				d.refused.add(refusedCFR, d.dev) // the filesystems say no, not this file
			}
			if isErrno(err, unix.EXDEV, unix.ENOSYS, unix.EOPNOTSUPP, unix.EINVAL) {
				d.useCFR = false // the loop takes over at off
				continue
			}
			if err != nil {
				return err
			}
			continue
		}
		done, err := d.readWrite(off, n)
		d.loopBytes += done
		d.copied(off, done)
		off += done
		if err != nil {
			return err
		}
	}
	return nil
}

// copied records that [off, off+n) was copied, and starts its writeback
// if it is a full chunk and the caller will fsync: the disk then writes
// while the next chunks are read, and the final fsync has less left to
// wait for. sync_file_range is only a hint here; the fsync reports errors.
func (d *dataCopy) copied(off, n int64) {
	d.written = max(d.written, off+n)
	if d.writeback && n == chunkSize {
		_ = unix.SyncFileRange(d.dfd, off, n, unix.SYNC_FILE_RANGE_WRITE)
	}
}

// method names the method that copied the most; with nothing copied, the
// one that would be used.
func (d *dataCopy) method() string {
	switch {
	case d.loopBytes > d.cfrBytes:
		return MethodReadWrite
	case d.cfrBytes > 0 || d.useCFR:
		return MethodCopyFileRange
	default:
		return MethodReadWrite
	}
}

// copyFileRange copies exactly n bytes at off, or returns how many it did
// copy and why it stopped.
func (d *dataCopy) copyFileRange(off, n int64) (int64, error) {
	roff, woff := off, off
	end := off + n
	for roff < end {
		w, err := unix.CopyFileRange(d.sfd, &roff, d.dfd, &woff, int(end-roff), 0)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return roff - off, fmt.Errorf("copy range: %w", err)
		case w == 0: // the source is shorter than its stat said
			return roff - off, fmt.Errorf("copy range: %w", io.ErrUnexpectedEOF)
		}
	}
	return n, nil
}

// readWrite copies exactly n bytes at off through a pooled buffer, or
// returns how many it did copy and why it stopped.
func (d *dataCopy) readWrite(off, n int64) (int64, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var done int64
	for done < n {
		b := buf[:min(int64(len(buf)), n-done)]
		r, err := unix.Pread(d.sfd, b, off+done)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, fmt.Errorf("read source: %w", err)
		}
		if r == 0 {
			return done, fmt.Errorf("read source: %w", io.ErrUnexpectedEOF)
		}
		for w := 0; w < r; {
			m, err := unix.Pwrite(d.dfd, b[w:r], off+done+int64(w))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return done, fmt.Errorf("write copy: %w", err)
			}
			w += m
		}
		done += int64(r)
	}
	return done, nil
}
