package tests

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireRoot skips t unless it runs as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: mounts overlayfs and builds layers with 0/0 devices and trusted.* xattrs")
	}
}

// requireOverlay skips t unless kernel overlayfs is available (the oracle).
func requireOverlay(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if !filesystemListed("overlay") {
		t.Skip("needs kernel overlayfs: not in /proc/filesystems")
	}
}

// requireFUSE skips t unless /dev/fuse can be opened and the kernel has FUSE.
func requireFUSE(t *testing.T) {
	t.Helper()
	if !filesystemListed("fuse") {
		t.Skip("needs FUSE: not in /proc/filesystems")
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("needs FUSE: open /dev/fuse: %v", err)
	}
	unix.Close(fd)
}

// requireMountEnv is the usual precondition of a differential test.
func requireMountEnv(t *testing.T) {
	t.Helper()
	requireOverlay(t)
	requireFUSE(t)
}

func filesystemListed(name string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == name {
			return true
		}
	}
	return false
}

// cmdResult is what a finished external command left behind.
type cmdResult struct {
	stdout, stderr string
	code           int   // exit status; -1 if the command did not exit normally
	err            error // nil, an *exec.ExitError, or why it could not run
}

// runCmd runs argv with a timeout and returns its output and exit status.
// A daemonizing program may leave its stdio with the daemon; WaitDelay stops
// Wait from waiting for the daemon in that case.
func runCmd(t *testing.T, timeout time.Duration, argv ...string) cmdResult {
	t.Helper()
	return runCmdEnv(t, timeout, nil, argv...)
}

func runCmdEnv(t *testing.T, timeout time.Duration, env []string, argv ...string) cmdResult {
	t.Helper()
	return runCmdIn(t, timeout, "", env, argv...)
}

// runCmdIn is runCmdEnv in the working directory dir ("": the test's).
func runCmdIn(t *testing.T, timeout time.Duration, dir string, env []string, argv ...string) cmdResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	r := cmdResult{stdout: stdout.String(), stderr: stderr.String(), code: -1, err: err}
	if cmd.ProcessState != nil {
		r.code = cmd.ProcessState.ExitCode()
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		t.Logf("%s exited but left its stdout/stderr open (held by a daemon?)", argv[0])
		r.err = nil
	}
	if ctx.Err() != nil {
		r.err = errors.Join(r.err, ctx.Err())
	}
	return r
}

// watchdog bounds t to d. When d passes, it reports an error and kills the
// FUSE daemons and detaches the mounts that are still live, so that a test
// blocked in a syscall on a mount gets an error and ends. If the test still
// has not ended 30 s later the process panics, which at least names it.
func watchdog(t *testing.T, d time.Duration) {
	t.Helper()
	name := t.Name()
	var last atomic.Pointer[time.Timer]
	first := time.AfterFunc(d, func() {
		t.Errorf("watchdog: %s still running after %v: killing daemons and detaching mounts", name, d)
		abortLiveMounts()
		last.Store(time.AfterFunc(30*time.Second, func() {
			panic("watchdog: " + name + " did not end after its mounts were aborted")
		}))
	})
	t.Cleanup(func() {
		first.Stop()
		if l := last.Load(); l != nil {
			l.Stop()
		}
	})
}

// mustMkdirAll makes dirs or fails t.
func mustMkdirAll(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}
