package uring

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// The FUSE-over-io_uring ABI (include/uapi/linux/fuse.h, protocol 7.42).
const (
	cmdRegister       = 1 // FUSE_IO_URING_CMD_REGISTER
	cmdCommitAndFetch = 2 // FUSE_IO_URING_CMD_COMMIT_AND_FETCH

	headerInOutSize = 128 // FUSE_URING_IN_OUT_HEADER_SZ
	headerOpSize    = 128 // FUSE_URING_OP_IN_OUT_SZ
	entInOutOff     = headerInOutSize + headerOpSize
	headerSize      = entInOutOff + int(unsafe.Sizeof(entInOut{})) // struct fuse_uring_req_header

	iovOff = headerSize // the iovec pair after the header (8-byte aligned)

	outHeaderSize = int(unsafe.Sizeof(fuse.OutHeader{}))
)

// entInOut is struct fuse_uring_ent_in_out.
type entInOut struct {
	flags     uint64
	commitID  uint64
	payloadSz uint32
	padding   uint32
	reserved  uint64
}

// cmdReq is struct fuse_uring_cmd_req, carried in an SQE's command data.
type cmdReq struct {
	flags    uint64
	commitID uint64
	qid      uint16
	padding  [6]uint8
}

// worker serves one ring entry of queue qid on its own locked thread and
// its own ring. Its buffers are anonymous mappings: the kernel keeps their
// addresses from registration until the entry is gone.
type worker struct {
	t       *Transport
	qid     int
	pin     bool // run on CPU qid only
	ring    *ring
	mem     []byte // one page: the entry's header, then the iovec pair
	payload []byte
	in      [inHeaderSize + headerOpSize]byte // header and fixed argument, contiguous
	armed   bool                              // the kernel holds the entry's buffers
	served  atomic.Uint64                     // requests answered
}

// errGone says the connection ended: the worker is done.
var errGone = errors.New("fuse connection gone")

// run is the worker's goroutine. It locks itself to a thread for good
// (the thread may be pinned to a CPU, so it must not go back to the
// scheduler's pool: it ends with the goroutine), registers its entry,
// reports the outcome on registered, then serves until the connection
// ends.
func (w *worker) run(registered chan<- error) {
	runtime.LockOSThread()
	if w.pin {
		w.pinThread()
	}
	err := w.setup()
	if err == nil {
		err = w.register()
	}
	registered <- err
	if err == nil {
		w.armed = true
		err = w.serve()
		w.armed = !errors.Is(err, errGone)
	}
	w.close()
	if err != nil && !errors.Is(err, errGone) {
		w.t.fail(err)
	}
}

// pinThread binds the thread to the worker's CPU, so that a request is
// served on the CPU that sent it.
func (w *worker) pinThread() {
	var set unix.CPUSet
	set.Set(w.qid)
	_ = unix.SchedSetaffinity(0, &set)
}

func (w *worker) setup() error {
	var err error
	if w.ring, err = newRing(4); err != nil {
		return err
	}
	page := unix.Getpagesize()
	if w.mem, err = unix.Mmap(-1, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("map ring entry header: %w", err)
	}
	if w.payload, err = unix.Mmap(-1, 0, w.t.payloadSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("map ring entry payload: %w", err)
	}
	iov := (*[2]unix.Iovec)(unsafe.Pointer(&w.mem[iovOff]))
	iov[0].Base = &w.mem[0]
	iov[0].SetLen(headerSize)
	iov[1].Base = &w.payload[0]
	iov[1].SetLen(len(w.payload))
	return nil
}

// submit queues a command for this worker's entry.
func (w *worker) submit(op uint32, commitID uint64) {
	s := w.ring.next() // never nil: a worker has at most one command out
	s.opcode = opURingCmd
	s.fd = int32(w.t.fd)
	s.cmdOp = op
	if op == cmdRegister {
		s.addr = uint64(uintptr(unsafe.Pointer(&w.mem[iovOff])))
		s.len = 2
	}
	c := (*cmdReq)(unsafe.Pointer(&s.cmd[0]))
	c.commitID = commitID
	c.qid = uint16(w.qid)
}

// register hands the entry to the kernel. A refusal comes back at once
// as a completion; an accepted entry completes only with a request.
func (w *worker) register() error {
	w.submit(cmdRegister, 0)
	if err := w.ring.enter(false); err != nil {
		return err
	}
	var err error
	w.ring.reap(func(c cqe) {
		err = fmt.Errorf("register fuse ring entry (queue %d): %w", w.qid, unix.Errno(-c.res))
	})
	return err
}

// maxReregister bounds the entry's registrations in a row that the kernel
// refuses at once; past it the worker gives up rather than spin.
const maxReregister = 3

// serve waits for requests and answers each with the commit that also
// fetches the next one.
func (w *worker) serve() error {
	refused := 0
	for {
		if err := w.ring.enter(true); err != nil {
			return err
		}
		var err error
		w.ring.reap(func(c cqe) {
			if err != nil {
				return
			}
			switch errno := unix.Errno(-c.res); {
			case c.res == 0:
				refused = 0
				w.handle()
			case errno == unix.ENOTCONN || errno == unix.ECONNABORTED || errno == unix.ECANCELED || errno == unix.ENODEV:
				err = errGone
			case refused >= maxReregister:
				err = fmt.Errorf("serve fuse ring entry (queue %d): %w", w.qid, errno)
			default:
				// The kernel dropped this entry (an unknown commit, say):
				// register it again so the queue does not lose a server.
				refused++
				w.submit(cmdRegister, 0)
			}
		})
		if err != nil {
			return err
		}
	}
}

// handle serves the request in the entry's buffers and queues its commit.
func (w *worker) handle() {
	hdr := unsafe.Pointer(&w.mem[0])
	ent := (*entInOut)(unsafe.Add(hdr, entInOutOff))
	h := (*fuse.InHeader)(hdr)
	unique := h.Unique
	commitID := ent.commitID
	argSize := min(int(ent.payloadSz), len(w.payload))
	opSize := max(0, min(int(h.Length)-inHeaderSize-argSize, headerOpSize))
	copy(w.in[:inHeaderSize], w.mem[:inHeaderSize])
	copy(w.in[inHeaderSize:], w.mem[headerInOutSize:headerInOutSize+opSize])
	clear(w.in[inHeaderSize+opSize:])

	r := request{in: unsafe.Pointer(&w.in[0]), arg: w.payload[:argSize], out: w.payload}
	st, n := w.dispatch(&r)
	if !st.Ok() {
		n = 0
	}
	oh := (*fuse.OutHeader)(hdr)
	*oh = fuse.OutHeader{Length: uint32(outHeaderSize + n), Status: -int32(st), Unique: unique}
	ent.payloadSz = uint32(n)
	w.served.Add(1)
	w.submit(cmdCommitAndFetch, commitID)
}

// dispatch runs the file system, turning a panic into EIO as go-fuse's
// own loop does.
func (w *worker) dispatch(r *request) (st fuse.Status, n int) {
	defer func() {
		if p := recover(); p != nil {
			st, n = fuse.EIO, 0
			w.t.fail(fmt.Errorf("serve fuse request %d: panic: %v", r.header().Opcode, p))
		}
	}()
	return dispatch(w.t.fs, r)
}

// close releases the ring, and the buffers unless the kernel may still
// write to them (a worker that failed with its entry registered leaks
// them rather than risk that).
func (w *worker) close() {
	if w.ring != nil {
		w.ring.close()
	}
	if w.armed {
		return
	}
	for _, m := range [][]byte{w.mem, w.payload} {
		if m != nil {
			_ = unix.Munmap(m)
		}
	}
}
