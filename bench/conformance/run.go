package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Result is one program run against one runtime.
type Result struct {
	Test     string
	Counts   Counts
	ExitCode int // -1 when it was killed at the timeout
	Verdict  Verdict
	Stdout   []byte // the TAP output
	Stderr   []byte
}

// Runtime is an OCI runtime with runc's command line.
type Runtime struct {
	Name string // "lamina", "runc"
	Path string // its binary
}

// DefaultTimeout bounds one program; the slowest take about 10 s.
const DefaultTimeout = 3 * time.Minute

// Run runs test from suite against rt (see the package doc for the
// isolation). scratch is a directory Run may use and empties again.
func Run(ctx context.Context, suite *Suite, rt Runtime, test, scratch string, timeout time.Duration) (*Result, error) {
	dir, err := os.MkdirTemp(scratch, test+"-"+rt.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("make scratch directory: %w", err)
	}
	defer os.RemoveAll(dir)
	// 0755 all the way down to the bundles: the root of a container with
	// a user namespace is another host user (linux_uid_mappings).
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make scratch directory: %w", err)
	}
	root, tmp := filepath.Join(dir, "root"), filepath.Join(dir, "tmp")
	for _, d := range []string{root, tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("make scratch directory: %w", err)
		}
	}
	wrapper := filepath.Join(dir, rt.Name)
	script := fmt.Sprintf("#!/bin/sh\nexec %s --root %s \"$@\"\n", shellQuote(rt.Path), shellQuote(root))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		return nil, fmt.Errorf("write runtime wrapper: %w", err)
	}
	defer deleteAll(wrapper)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(suite.Dir, test))
	cmd.Dir = suite.Dir
	cmd.Env = append(os.Environ(), "RUNTIME="+wrapper, "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Unshareflags: syscall.CLONE_NEWNS}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	res := &Result{Test: test, Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		res.ExitCode = -1
		fmt.Fprintf(&stderr, "\nkilled after %v\n", timeout)
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
	case err != nil:
		return nil, fmt.Errorf("run %s: %w", test, err)
	}
	res.Counts = Parse(res.Stdout)
	res.Verdict = res.Counts.Verdict(res.ExitCode)
	return res, nil
}

// deleteAll force-deletes every container left in the wrapper's root.
func deleteAll(wrapper string) {
	out, err := exec.Command(wrapper, "list", "-q").Output()
	if err != nil {
		return
	}
	for _, id := range strings.Fields(string(out)) {
		exec.Command(wrapper, "delete", "--force", id).Run()
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// suiteCgroups are the cgroup paths of the suite's cgroup programs
// (runtime-tools cgroups.AbsCgroupPath, and RelCgroupPath's parents
// relative to the caller's cgroup): the runtimes remove the container's
// own cgroup but not the parents they made. Innermost first.
var suiteCgroups = []string{"testdir/cgrouptest/container", "testdir/cgrouptest", "testdir", "cgrouptest"}

// RemoveSuiteCgroups removes what is left of those cgroups, below every
// hierarchy root and below this process's own cgroup in each (rmdir: a
// cgroup still in use stays).
func RemoveSuiteCgroups() {
	own := map[string]string{} // controller list as in /proc/self/cgroup -> path
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if f := strings.SplitN(line, ":", 3); len(f) == 3 {
				own[f[1]] = f[2]
			}
		}
	}
	mounts, _ := filepath.Glob("/sys/fs/cgroup/*")
	mounts = append(mounts, "/sys/fs/cgroup")
	for _, m := range mounts {
		bases := []string{m}
		for ctrl, p := range own {
			if name := filepath.Base(m); p != "/" && (ctrl == name || ctrl == "name="+name || ctrl == "" && name == "unified") {
				bases = append(bases, filepath.Join(m, p))
			}
		}
		for _, base := range bases {
			for _, c := range suiteCgroups {
				os.Remove(filepath.Join(base, c))
			}
		}
	}
}
