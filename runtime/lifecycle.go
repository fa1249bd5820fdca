package runtime

import (
	"context"
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
	f, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("%w: %s: init is gone", ErrNotCreated, id)
		}
		return fmt.Errorf("open %s: %w", fifo, err)
	}
	_, werr := f.Write([]byte{'0'})
	f.Close()
	if werr != nil {
		return fmt.Errorf("write %s: %w", fifo, werr)
	}
	if err := os.Remove(fifo); err != nil {
		return fmt.Errorf("remove %s: %w", fifo, err)
	}
	return nil
}

// Kill sends sig to the init of container id. It uses a pidfd checked
// against the recorded start time, so a reused pid is never signalled.
// It returns ErrNotRunning for a stopped container.
func (r *Runtime) Kill(id string, sig unix.Signal) error {
	l, rec, err := r.lock(id, false)
	if err != nil {
		return err
	}
	defer l.unlock()
	return rec.signal(sig)
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
	switch st := rec.status(l.path); st {
	case specs.StateRunning:
		if !force {
			return fmt.Errorf("%w: %s", ErrRunning, id)
		}
		fallthrough
	case specs.StateCreated:
		if err := rec.killAndWait(ctx); err != nil {
			return err
		}
	}
	if err := destroyCgroupRetry(ctx, rec.CgroupPaths); err != nil {
		return err
	}
	if err := os.RemoveAll(l.path); err != nil {
		return fmt.Errorf("remove state dir: %w", err)
	}
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
