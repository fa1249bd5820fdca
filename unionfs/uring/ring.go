package uring

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring ABI this package uses (include/uapi/linux/io_uring.h).
const (
	setupCoopTaskrun  = 1 << 8
	setupSQE128       = 1 << 10
	setupSingleIssuer = 1 << 12
	setupDeferTaskrun = 1 << 13

	featSingleMmap = 1 << 0

	enterGetEvents = 1 << 0

	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000

	opURingCmd = 46 // IORING_OP_URING_CMD

	sqeSize = 128 // with IORING_SETUP_SQE128
	cqeSize = 16
)

// params is struct io_uring_params.
type params struct {
	sqEntries    uint32
	cqEntries    uint32
	flags        uint32
	sqThreadCPU  uint32
	sqThreadIdle uint32
	features     uint32
	wqFd         uint32
	resv         [3]uint32
	sqOff        sqOffsets
	cqOff        cqOffsets
}

type sqOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type cqOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// sqe is the part of struct io_uring_sqe a uring command fills; cmd is the
// 80 bytes of command data an SQE128 carries from offset 48.
type sqe struct {
	opcode   uint8
	flags    uint8
	ioprio   uint16
	fd       int32
	cmdOp    uint32 // union with off
	pad1     uint32
	addr     uint64
	len      uint32
	cmdFlags uint32
	userData uint64
	bufIndex uint16
	persona  uint16
	fileIdx  int32
	cmd      [80]byte
}

// cqe is struct io_uring_cqe.
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// ring is one io_uring instance with 128-byte SQEs, used by the one
// thread that created it (IORING_SETUP_SINGLE_ISSUER): its memory is
// shared with the kernel and nothing here is safe for concurrent use.
type ring struct {
	fd      int
	sqMem   []byte // the SQ ring (and the CQ ring, with a single mmap)
	cqMem   []byte // the CQ ring when mapped apart; nil otherwise
	sqeMem  []byte
	sqHead  *uint32
	sqTail  *uint32
	sqMask  uint32
	sqArray unsafe.Pointer
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    unsafe.Pointer
	sqLocal uint32 // the tail including SQEs not yet published
	pending uint32 // SQEs queued since the last enter
}

// newRing sets up a ring of entries SQEs for the calling thread. It asks
// for deferred task running, so completions run only when this thread
// waits in enter, and falls back to cooperative task running on kernels
// without it.
func newRing(entries uint32) (*ring, error) {
	var p params
	var fd int
	var err error
	for _, flags := range []uint32{
		setupSQE128 | setupSingleIssuer | setupDeferTaskrun,
		setupSQE128 | setupCoopTaskrun,
	} {
		p = params{flags: flags}
		fd, err = setup(entries, &p)
		if err != unix.EINVAL {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("set up io_uring: %w", err)
	}
	r := &ring{fd: fd}
	if err := r.mapRings(&p); err != nil {
		r.close()
		return nil, err
	}
	r.sqLocal = *r.sqTail
	return r, nil
}

func setup(entries uint32, p *params) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func (r *ring) mapRings(p *params) error {
	sqLen := int(p.sqOff.array) + int(p.sqEntries)*4
	cqLen := int(p.cqOff.cqes) + int(p.cqEntries)*cqeSize
	single := p.features&featSingleMmap != 0
	if single {
		sqLen = max(sqLen, cqLen)
	}
	var err error
	mmap := func(off int64, n int) ([]byte, error) {
		return unix.Mmap(r.fd, off, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	}
	if r.sqMem, err = mmap(offSQRing, sqLen); err != nil {
		return fmt.Errorf("map io_uring submission ring: %w", err)
	}
	cq := r.sqMem
	if !single {
		if r.cqMem, err = mmap(offCQRing, cqLen); err != nil {
			return fmt.Errorf("map io_uring completion ring: %w", err)
		}
		cq = r.cqMem
	}
	if r.sqeMem, err = mmap(offSQEs, int(p.sqEntries)*sqeSize); err != nil {
		return fmt.Errorf("map io_uring entries: %w", err)
	}
	sq := unsafe.Pointer(&r.sqMem[0])
	r.sqHead = (*uint32)(unsafe.Add(sq, p.sqOff.head))
	r.sqTail = (*uint32)(unsafe.Add(sq, p.sqOff.tail))
	r.sqMask = *(*uint32)(unsafe.Add(sq, p.sqOff.ringMask))
	r.sqArray = unsafe.Add(sq, p.sqOff.array)
	cqp := unsafe.Pointer(&cq[0])
	r.cqHead = (*uint32)(unsafe.Add(cqp, p.cqOff.head))
	r.cqTail = (*uint32)(unsafe.Add(cqp, p.cqOff.tail))
	r.cqMask = *(*uint32)(unsafe.Add(cqp, p.cqOff.ringMask))
	r.cqes = unsafe.Add(cqp, p.cqOff.cqes)
	return nil
}

// next returns a cleared SQE to fill, or nil when the submission ring is
// full. The kernel sees it from the next enter on.
func (r *ring) next() *sqe {
	tail := r.sqLocal
	if tail-atomic.LoadUint32(r.sqHead) > r.sqMask {
		return nil
	}
	idx := tail & r.sqMask
	s := (*sqe)(unsafe.Pointer(&r.sqeMem[int(idx)*sqeSize]))
	*s = sqe{}
	*(*uint32)(unsafe.Add(r.sqArray, idx*4)) = idx
	r.sqLocal = tail + 1
	r.pending++
	return s
}

// enter submits the queued SQEs and, when wait, blocks until at least one
// completion is ready. EINTR is retried.
func (r *ring) enter(wait bool) error {
	var minComplete, flags uintptr
	if wait {
		minComplete, flags = 1, enterGetEvents
	}
	atomic.StoreUint32(r.sqTail, r.sqLocal) // publish the filled SQEs
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.pending), minComplete, flags, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("enter io_uring: %w", errno)
		}
		r.pending -= uint32(n)
		return nil
	}
}

// reap calls fn for each ready completion and consumes them.
func (r *ring) reap(fn func(c cqe)) {
	head := *r.cqHead
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		fn(*(*cqe)(unsafe.Add(r.cqes, (head&r.cqMask)*cqeSize)))
	}
	atomic.StoreUint32(r.cqHead, head)
}

func (r *ring) close() {
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.sqMem} {
		if m != nil {
			_ = unix.Munmap(m)
		}
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}
