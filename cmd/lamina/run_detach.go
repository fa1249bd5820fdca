package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// lamina run -d IMAGE starts a supervisor: lamina itself, re-executed with
// the same arguments in a new session, with superviseEnv naming the fd of
// a "ready" pipe. The supervisor starts the container (so the container's
// init is its child), writes the container's name to the ready pipe, lets
// go of the caller's stderr and waits for the container: it records the
// exit status in the store record and unmounts the union, as a foreground
// lamina run does (package engine). The caller prints the name and exits.
// The container's output goes to its log file; the supervisor's own later
// messages go to /dev/null.
const superviseEnv = "_LAMINA_SUPERVISE_FD"

// isSupervisor reports whether this process is the supervisor of a
// detached run.
func isSupervisor() bool { return os.Getenv(superviseEnv) != "" }

// startSupervisor runs the supervisor and waits until it reports the
// container started (it prints the name to out) or fails (its error went
// to errOut; the exit status is passed on).
//
// A signal that cancels ctx (^C) is passed on to the supervisor as SIGTERM,
// which then stops what it was doing (a pull, say) and cleans up.
func startSupervisor(ctx context.Context, out, errOut io.Writer) error {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	defer readyR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return fmt.Errorf("start supervisor: %w", err)
	}
	defer errR.Close()
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), superviseEnv+"=3")
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Stderr = errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	errW.Close()
	if err != nil {
		return fmt.Errorf("start supervisor: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { cmd.Process.Signal(unix.SIGTERM) })
	defer stop()
	copied := make(chan struct{})
	go func() { io.Copy(errOut, errR); close(copied) }()
	name, err := io.ReadAll(readyR)
	<-copied
	if err != nil {
		return fmt.Errorf("read from supervisor: %w", err)
	}
	if len(name) > 0 {
		fmt.Fprintln(out, string(name))
		return cmd.Process.Release()
	}
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() > 0 {
			return &exitError{code: ee.ExitCode()} // it printed its error
		}
		return fmt.Errorf("supervisor: %w", err)
	}
	return errors.New("supervisor: exited without starting the container")
}

// readyPipe returns the supervisor's end of the ready pipe, made
// close-on-exec first so that no child (the unionmount daemon, the
// container's init) holds it open and hides the close from the caller.
func readyPipe() (*os.File, error) {
	fd, err := strconv.Atoi(os.Getenv(superviseEnv))
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("supervise: bad %s %q", superviseEnv, os.Getenv(superviseEnv))
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "ready"), nil
}

// supervisorReady tells the caller of lamina run -d that container name
// started, and points this process's stdout and stderr at /dev/null so
// that the caller sees them close.
func supervisorReady(ready *os.File, name string) error {
	_, werr := io.Copy(ready, strings.NewReader(name))
	ready.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	defer null.Close()
	for _, std := range []int{1, 2} {
		if err := unix.Dup3(int(null.Fd()), std, 0); err != nil {
			return fmt.Errorf("supervise: %w", err)
		}
	}
	if werr != nil {
		return fmt.Errorf("supervise: report ready: %w", werr)
	}
	// Every path was resolved by now; do not keep the caller's working
	// directory busy for as long as the container runs.
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("supervise: %w", err)
	}
	return nil
}
