package uring

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// ErrUnavailable says this kernel does not offer FUSE over io_uring now.
var ErrUnavailable = errors.New("FUSE over io_uring is not enabled in this kernel " +
	"(needs Linux 6.14+ with CONFIG_FUSE_IO_URING, and as root: echo Y > " + enableParam + ")")

const (
	enableParam  = "/sys/module/fuse/parameters/enable_uring"
	possibleCPUs = "/sys/devices/system/cpu/possible"
)

// Available reports whether the kernel would move a connection that asks
// for it (with [fuse.CAP_OVER_IO_URING] in its INIT reply) to io_uring.
func Available() bool {
	b, err := os.ReadFile(enableParam)
	return err == nil && strings.TrimSpace(string(b)) == "Y"
}

// Option configures a Transport.
type Option func(*options)

type options struct {
	maxWrite int // the server's MountOptions.MaxWrite
	perQueue int // ring entries (each with a thread) per CPU queue
}

func defaults() options {
	return options{maxWrite: 128 << 10, perQueue: 2}
}

// WithMaxWrite gives the server's MountOptions.MaxWrite: every entry's
// payload buffer must hold the largest request and reply.
func WithMaxWrite(n int) Option { return func(o *options) { o.maxWrite = n } }

// WithEntriesPerQueue sets how many requests each CPU's queue can have in
// service at once, each on its own thread (default 2: a slow request,
// an fsync say, leaves one to serve the CPU's other callers).
func WithEntriesPerQueue(n int) Option { return func(o *options) { o.perQueue = max(1, n) } }

// Transport serves a go-fuse Server's requests from io_uring queues, one
// per possible CPU, with fs (the Server's own file system).
type Transport struct {
	fs          fuse.RawFileSystem
	fd          int // our duplicate of the server's /dev/fuse descriptor
	payloadSize int
	workers     []*worker // set before Start returns; immutable after
	done        sync.WaitGroup

	mu  sync.Mutex
	err error // the first failure after start
}

// Start registers ring entries on srv's connection and serves them until
// the connection ends (unmount, or abort). srv must have been created
// with [fuse.CAP_OVER_IO_URING] among its ExtraCapabilities, and its
// mount must be complete (WaitMount), so that go-fuse's own start-up
// requests are behind it. Until every queue has an entry the kernel keeps
// using /dev/fuse; on error that stays so, and the entries that did
// register end with the connection.
func Start(srv *fuse.Server, fs fuse.RawFileSystem, opts ...Option) (*Transport, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if !Available() {
		return nil, ErrUnavailable
	}
	ncpu, err := countCPUs()
	if err != nil {
		return nil, err
	}
	fd, err := deviceFd(srv)
	if err != nil {
		return nil, err
	}
	page := unix.Getpagesize()
	t := &Transport{
		fs:          fs,
		fd:          fd,
		payloadSize: max(8192, (o.maxWrite+page-1)/page*page),
	}
	// Each queue needs an entry before the kernel uses any; a CPU this
	// process may not run on (offline, or outside its affinity) sends
	// nothing here, so its queue gets one, unpinned.
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return nil, fmt.Errorf("start fuse io_uring transport: %w", err)
	}
	var workers []*worker
	for q := range ncpu {
		n, pin := 1, allowed.IsSet(q)
		if pin {
			n = o.perQueue
		}
		for range n {
			workers = append(workers, &worker{t: t, qid: q, pin: pin})
		}
	}
	t.workers = workers
	registered := make(chan error, len(workers))
	t.done.Add(len(workers))
	for _, w := range workers {
		go func() {
			defer t.done.Done()
			w.run(registered)
		}()
	}
	var errs []error
	for range workers {
		if err := <-registered; err != nil {
			errs = append(errs, err)
		}
	}
	go func() {
		t.done.Wait()
		unix.Close(t.fd)
	}()
	if len(errs) > 0 {
		return nil, fmt.Errorf("start fuse io_uring transport: %w", errors.Join(errs...))
	}
	return t, nil
}

// Wait blocks until every queue's workers have ended with the connection.
func (t *Transport) Wait() { t.done.Wait() }

// Served is the number of requests served through the rings so far. Each
// worker counts its own, so that counting adds no memory traffic between
// CPUs to a request.
func (t *Transport) Served() uint64 {
	var n uint64
	for _, w := range t.workers {
		n += w.served.Load()
	}
	return n
}

// Err is the first failure seen while serving (a panic in the file
// system, a ring that could not be entered), or nil.
func (t *Transport) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

func (t *Transport) fail(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err == nil {
		t.err = err
	}
}

// deviceFd duplicates srv's /dev/fuse descriptor. go-fuse (v2.12) keeps
// it in an unexported field and offers no accessor, so it is read by
// reflection; TestDeviceFd fails if a go-fuse upgrade moves it.
func deviceFd(srv *fuse.Server) (int, error) {
	v := reflect.ValueOf(srv).Elem().FieldByName("fuseFD")
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return -1, errors.New("find fuse device: go-fuse Server has no fuseFD")
	}
	f := v.Elem().FieldByName("file")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*os.File]() {
		return -1, errors.New("find fuse device: go-fuse fuseFD has no file")
	}
	file := *(**os.File)(unsafe.Pointer(f.UnsafeAddr()))
	if file == nil {
		return -1, errors.New("find fuse device: go-fuse Server is closed")
	}
	rc, err := file.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("find fuse device: %w", err)
	}
	dup := -1
	var derr error
	if err := rc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, fmt.Errorf("duplicate fuse device: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("duplicate fuse device: %w", derr)
	}
	return dup, nil
}

// countCPUs is the number of possible CPUs, which is the number of queues
// the kernel makes (one per CPU id; all must have an entry).
func countCPUs() (int, error) {
	b, err := os.ReadFile(possibleCPUs)
	if err != nil {
		return 0, fmt.Errorf("count cpus: %w", err)
	}
	n, err := parseCPUList(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("count cpus: %s: %w", possibleCPUs, err)
	}
	return n, nil
}

// parseCPUList counts the CPUs of a kernel cpu list ("0-3,5,7-8"). The
// kernel numbers its queues 0 to that count minus one.
func parseCPUList(s string) (int, error) {
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, fmt.Errorf("parse cpu list %q: bad cpu %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("parse cpu list %q: bad range %q", s, part)
			}
		}
		n += b - a + 1
	}
	if n > 1<<16 {
		return 0, fmt.Errorf("parse cpu list %q: too many cpus", s)
	}
	return n, nil
}
