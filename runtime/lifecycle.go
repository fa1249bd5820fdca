package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Start releases the init of a created container: it opens exec.fifo for
// writing, writes one byte and removes the fifo. Init then execs the
// container process. Start returns ErrNotCreated unless the container is
// in the created state.
//
// When the container has startContainer or poststart hooks, Start also
// waits for init to exec (see awaitExec), then runs the poststart hooks.
// A failing startContainer or poststart hook (or exec) fails Start: as
// the runtime-spec lifecycle asks, the container is then stopped and
// destroyed as by Delete, poststop hooks included.
func (r *Runtime) Start(id string) error {
	l, rec, err := r.lock(id, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	if st := rec.status(l.path); st != specs.StateCreated {
		return fmt.Errorf("%w: %s is %s", ErrNotCreated, id, st)
	}
	fifo := filepath.Join(l.path, fifoFile)
	// O_NONBLOCK: ENXIO instead of blocking when init no longer holds the
	// read end (it died after the status check).
	w, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("%w: %s: init is gone", ErrNotCreated, id)
		}
		return fmt.Errorf("open %s: %w", fifo, err)
	}
	defer func() {
		if w >= 0 {
			unix.Close(w)
		}
	}()
	wait := hasHooks(rec.Hooks, hookStartContainer, hookPoststart)
	rd := -1
	if wait {
		if rd, err = unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err != nil {
			return fmt.Errorf("open %s: %w", fifo, err)
		}
		defer unix.Close(rd)
	}
	if _, err := unix.Write(w, []byte{'0'}); err != nil {
		return fmt.Errorf("write %s: %w", fifo, err)
	}
	if err := os.Remove(fifo); err != nil {
		return fmt.Errorf("remove %s: %w", fifo, err)
	}
	if !wait {
		return nil
	}
	failure, err := awaitExec(rec, &w, rd)
	if err != nil {
		return err
	}
	if failure == nil {
		failure = runHooks(context.Background(), rec.Hooks, rec.State.State, specs.StateRunning, hookPoststart)
	}
	if failure != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := r.destroy(ctx, rec, l.path); err != nil {
			return fmt.Errorf("start %s: %w (and then: %v)", id, failure, err)
		}
		return fmt.Errorf("start %s: %w", id, failure)
	}
	return nil
}

// awaitExec waits until init has execed the container process or failed
// before it, and returns init's error then (nil after an exec). Init holds
// exec.fifo O_RDWR, close-on-exec: once it has read Start's byte (the
// fifo is empty), Start closes its write end *w; from then on init is the
// only writer, so a read returns end-of-file exactly when init has
// execed or exited. Before exiting on an error init writes it into the
// fifo as one JSON initReply.
func awaitExec(rec *record, w *int, rd int) (failure, err error) {
	for {
		n, err := unix.IoctlGetInt(*w, unix.TIOCINQ) // FIONREAD
		if err != nil {
			return nil, fmt.Errorf("wait for init to read exec.fifo: %w", err)
		}
		// Not empty: init has not read the byte yet, or it has already
		// written its error and is exiting.
		if n == 0 || !rec.alive() {
			break
		}
		time.Sleep(time.Millisecond)
	}
	unix.Close(*w)
	*w = -1
	var msg []byte
	buf := make([]byte, 4096)
	for {
		n, err := unix.Read(rd, buf)
		switch {
		case n > 0:
			msg = append(msg, buf[:n]...)
		case err == nil: // end-of-file: init execed or exited
			if len(msg) == 0 {
				return nil, nil
			}
			if msg[0] == '0' { // Start's own byte: init died before reading it
				return nil, fmt.Errorf("%w: %s: init is gone", ErrNotCreated, rec.ID)
			}
			var reply initReply
			if json.Unmarshal(msg, &reply) != nil || reply.err() == nil {
				return fmt.Errorf("init failed before exec: %q", msg), nil
			}
			return reply.err(), nil
		case err == unix.EAGAIN:
			// No POLLHUP on this fifo (see waitStart): poll briefly.
			unix.Poll([]unix.PollFd{{Fd: int32(rd), Events: unix.POLLIN}}, 5)
		case err == unix.EINTR:
		default:
			return nil, fmt.Errorf("read exec.fifo: %w", err)
		}
	}
}

// Kill sends sig to the init of container id. It uses a pidfd checked
// against the recorded start time, so a reused pid is never signalled.
// It returns ErrNotRunning for a stopped container. SIGKILL to a paused
// container also thaws it (as runc does), since a frozen init would not
// die until resumed; other signals wait for Resume.
func (r *Runtime) Kill(id string, sig unix.Signal) error {
	l, rec, err := r.lock(id, false)
	if err != nil {
		return err
	}
	defer l.unlock()
	if err := rec.signal(sig); err != nil {
		return err
	}
	if sig == unix.SIGKILL && rec.frozen() {
		rec.thaw()
	}
	return nil
}

func (rec *record) signal(sig unix.Signal) error {
	pidfd, err := rec.pidfd()
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	if err := unix.PidfdSendSignal(pidfd, sig, nil, 0); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("%w: %s", ErrNotRunning, rec.ID)
		}
		return fmt.Errorf("signal init: %w", err)
	}
	return nil
}

// pidfd opens a pidfd on init and then checks that the pid still names the
// process recorded in state.json (and that it is not a zombie).
func (rec *record) pidfd() (int, error) {
	if rec.Pid <= 0 {
		return -1, fmt.Errorf("%w: %s", ErrNotRunning, rec.ID)
	}
	pidfd, err := unix.PidfdOpen(rec.Pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return -1, fmt.Errorf("%w: %s", ErrNotRunning, rec.ID)
		}
		return -1, fmt.Errorf("open pidfd: %w", err)
	}
	if !rec.alive() {
		unix.Close(pidfd)
		return -1, fmt.Errorf("%w: %s", ErrNotRunning, rec.ID)
	}
	return pidfd, nil
}

// Delete removes container id: its cgroup (killing what is left in it)
// and its state directory. A created container is killed first, as runc
// does; a running one only with force (SIGKILL, then a bounded wait).
func (r *Runtime) Delete(ctx context.Context, id string, force bool) error {
	l, rec, err := r.lock(id, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	if st := rec.status(l.path); (st == specs.StateRunning || st == StatePaused) && !force {
		return fmt.Errorf("%w: %s", ErrRunning, id)
	}
	return r.destroy(ctx, rec, l.path)
}

// destroy is the end of the runtime-spec lifecycle (steps 12 and 13): it
// kills init if it still lives, removes the cgroup (killing what is left
// in it) and the state directory dir, then runs the poststop hooks, whose
// failures are warnings.
func (r *Runtime) destroy(ctx context.Context, rec *record, dir string) error {
	if err := rec.killAndWait(ctx); err != nil {
		return err
	}
	rec.thaw() // init may be gone already while the rest is frozen
	if err := destroyCgroupRetry(ctx, rec.CgroupPaths); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
	warnHooks(context.WithoutCancel(ctx), rec.Hooks, rec.State.State, specs.StateStopped, hookPoststop, r.warn)
	return nil
}

// killAndWait sends SIGKILL to init and waits (bounded by ctx and 10s)
// until it has exited; the pidfd turns readable then.
func (rec *record) killAndWait(ctx context.Context) error {
	pidfd, err := rec.pidfd()
	if errors.Is(err, ErrNotRunning) {
		return nil
	}
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("kill init: %w", err)
	}
	rec.thaw() // a paused container's init dies only once thawed
	deadline := time.Now().Add(10 * time.Second)
	for ctx.Err() == nil && time.Now().Before(deadline) {
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("wait for init: %w", err)
		}
		if n > 0 {
			return nil
		}
	}
	return fmt.Errorf("wait for init %d to exit: timed out", rec.Pid)
}

// destroyCgroupRetry retries removal briefly: rmdir fails with EBUSY while
// killed tasks are still exiting.
func destroyCgroupRetry(ctx context.Context, paths map[string]string) error {
	var err error
	for i := 0; i < 50; i++ {
		p := make(map[string]string, len(paths))
		for k, v := range paths {
			p[k] = v
		}
		if err = destroyCgroup(p); err == nil || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func killPid(pid int) { unix.Kill(pid, unix.SIGKILL) }
