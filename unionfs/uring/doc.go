// Package uring serves a go-fuse server's requests through FUSE over
// io_uring (Linux 6.14+, CONFIG_FUSE_IO_URING, module parameter
// enable_uring) instead of read and write on /dev/fuse.
//
// # Model
//
// The kernel keeps one queue per possible CPU and puts a request on the
// queue of the CPU its caller runs on. A queue holds ring entries: each is
// a header buffer (the request's in-header, its fixed argument, and
// struct fuse_uring_ent_in_out) and a payload buffer (names, write data;
// the reply's arguments on the way back), registered by a
// FUSE_IO_URING_CMD_REGISTER uring command. When a request arrives the
// command completes; the server writes the reply into the same buffers
// and sends FUSE_IO_URING_CMD_COMMIT_AND_FETCH, one system call that
// answers and waits for the next request.
//
// Here every entry has its own worker: a goroutine locked to a thread of
// its own, pinned to the entry's CPU, with its own ring (128-byte SQEs,
// single issuer, deferred task running). Each CPU the process may run on
// gets two entries (a slow request, an fsync say, leaves one serving);
// the queues of the others (offline, or outside its affinity) get one
// unpinned entry, since the kernel uses no queue until all have one. A request is thus served on the
// CPU that made it, by a thread that was sleeping there, and the reply
// wakes the caller on the same CPU: no request crosses CPUs, which on a
// virtual machine saves waking an idle vCPU twice per request (the cost
// that dominates small-file work through /dev/fuse).
//
// Requests are decoded into go-fuse's wire structs and served by the
// server's own [fuse.RawFileSystem], so both transports run the same file
// system code. go-fuse v2.12 has no io_uring transport and does not expose
// its request decoding or its /dev/fuse descriptor; this package decodes
// the opcodes itself (dispatch.go) and finds the descriptor by reflection
// (deviceFd). No maintained Go io_uring library supports uring commands
// with 128-byte SQEs, so ring.go drives the few io_uring calls needed.
//
// # Invariants
//
//   - go-fuse keeps serving /dev/fuse: INIT, FORGET, INTERRUPT and
//     notifications always go that way, and every request does until all
//     queues have an entry.
//   - A worker has at most one command with the kernel; its buffers are
//     anonymous mappings, never Go memory, and are unmapped only after
//     the kernel has let go of the entry.
//   - Interrupts are not delivered to requests served through a ring
//     (go-fuse answers them EAGAIN until the request is done).
//   - Workers end, and the transport's descriptor closes, when the
//     connection ends.
//
// # The start-up probe
//
// Call the server's WaitMount after Start, before anything in the process
// opens a file on the mount with the os package. os.Open registers every
// file with epoll, and on a FUSE file epoll_ctl asks the daemon for POLL
// until the kernel has been answered ENOSYS once; Go makes epoll_ctl as a
// raw system call, which keeps its scheduler slot while it waits. Two such
// waits hold both slots of a 2-CPU machine, and the workers that would
// answer cannot run: the process hangs, with threads the kernel will not
// let die. WaitMount's probe gets the ENOSYS answered first (dispatch
// answers it as go-fuse does).
package uring
