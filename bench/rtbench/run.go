package rtbench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotRoot is returned by Run when it does not run as root: the runtimes
// create cgroups and namespaces.
var ErrNotRoot = errors.New("benchrt must run as root (the runtimes create cgroups and namespaces)")

// Sample is one timed iteration: create, start, wait and delete.
type Sample struct {
	Create, Start, Wait, Delete time.Duration
}

// Total is the time of the whole iteration.
func (s Sample) Total() time.Duration { return s.Create + s.Start + s.Wait + s.Delete }

// Series is one runtime's results.
type Series struct {
	Name    string
	Path    string
	Version string
	Samples []Sample
	// Err is why the runtime dropped out of the run, if it did; Samples
	// then holds the iterations it completed.
	Err string
}

// Result is one run of the benchmark.
type Result struct {
	Runs    int
	Cgroups string // how cgroups were set up (see HideUnified)
	Kernel  string
	Series  []*Series
}

// runner is one runtime under test, with its state root and error log.
type runner struct {
	*Series
	root   string
	stderr *os.File
	devnul *os.File
}

// Run runs the benchmark. The caller sets the cgroup description (see
// HideUnified) in the returned Result.
func Run(ctx context.Context, opts ...Option) (*Result, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if o.runs < 1 {
		return nil, fmt.Errorf("runs: want at least 1, got %d", o.runs)
	}
	// Container inits outlive "create" and are reparented: to us, so
	// that we can wait for them as a shim does.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("become child subreaper: %w", err)
	}
	dir, err := os.MkdirTemp("", "lamina-benchrt-")
	if err != nil {
		return nil, fmt.Errorf("make scratch dir: %w", err)
	}
	defer os.RemoveAll(dir)
	bundle := filepath.Join(dir, "bundle")
	if err := makeBundle(bundle, "/bin/busybox"); err != nil {
		return nil, err
	}
	runners, err := findRunners(dir, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, r := range runners {
			r.stderr.Close()
			r.devnul.Close()
		}
	}()
	res := &Result{Runs: o.runs, Kernel: kernel()}
	for _, r := range runners {
		res.Series = append(res.Series, r.Series)
	}
	total := o.warmup + o.runs
	for round := 0; round < total; round++ {
		for k := range runners {
			r := runners[(round+k)%len(runners)]
			if r.Err != "" {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			id := fmt.Sprintf("benchrt-%d-%d", os.Getpid(), round)
			s, err := r.iteration(ctx, bundle, id)
			if err != nil {
				r.Err = err.Error()
				fmt.Fprintf(o.progress, "benchrt: %s drops out: %v\n", r.Name, err)
				continue
			}
			if round >= o.warmup {
				r.Samples = append(r.Samples, s)
			}
		}
		if (round+1)%50 == 0 || round+1 == total {
			fmt.Fprintf(o.progress, "benchrt: round %d/%d\n", round+1, total)
		}
	}
	return res, nil
}

// findRunners resolves lamina and the installed peers.
func findRunners(dir string, o options) ([]*runner, error) {
	lamina, err := filepath.Abs(o.lamina)
	if err == nil {
		_, err = os.Stat(lamina)
	}
	if err != nil {
		return nil, fmt.Errorf("find lamina (build it with make build): %w", err)
	}
	paths := map[string]string{"lamina": lamina}
	names := []string{"lamina"}
	for _, p := range o.peers {
		path, err := exec.LookPath(p)
		if err != nil {
			continue // not installed: left out
		}
		names = append(names, filepath.Base(p))
		paths[filepath.Base(p)] = path
	}
	var out []*runner
	for _, n := range names {
		r := &runner{Series: &Series{Name: n, Path: paths[n]}, root: filepath.Join(dir, "state-"+n)}
		if r.stderr, err = os.Create(filepath.Join(dir, n+".stderr")); err != nil {
			return nil, err
		}
		if r.devnul, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
			return nil, err
		}
		r.Version = version(r.Path)
		out = append(out, r)
	}
	return out, nil
}

// iteration runs create, start, wait and delete of one container.
func (r *runner) iteration(ctx context.Context, bundle, id string) (Sample, error) {
	var s Sample
	pidFile := filepath.Join(bundle, "..", r.Name+".pid")
	t0 := time.Now()
	if err := r.run(ctx, "create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
		return s, err
	}
	t1 := time.Now()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return s, fmt.Errorf("read pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return s, fmt.Errorf("read pid file: %w", err)
	}
	if err := r.run(ctx, "start", id); err != nil {
		r.run(ctx, "delete", "--force", id)
		return s, err
	}
	t2 := time.Now()
	code, err := waitInit(pid, 10*time.Second)
	t3 := time.Now()
	if err != nil {
		r.run(ctx, "delete", "--force", id)
		return s, err
	}
	if err := r.run(ctx, "delete", id); err != nil {
		return s, err
	}
	t4 := time.Now()
	reapStrays()
	if code != 0 {
		return s, fmt.Errorf("container %s exited %d, want 0", id, code)
	}
	return Sample{Create: t1.Sub(t0), Start: t2.Sub(t1), Wait: t3.Sub(t2), Delete: t4.Sub(t3)}, nil
}

// run runs one command of the runtime's CLI.
func (r *runner) run(ctx context.Context, args ...string) error {
	argv := append([]string{"--root", r.root}, args...)
	cmd := exec.CommandContext(ctx, r.Path, argv...)
	cmd.Stdin, cmd.Stdout = r.devnul, r.devnul
	off, _ := r.stderr.Seek(0, 2)
	cmd.Stderr = r.stderr
	if err := cmd.Run(); err != nil {
		msg := make([]byte, 512)
		n, _ := r.stderr.ReadAt(msg, off)
		return fmt.Errorf("%s %s: %w: %s", r.Name, args[0], err, bytes.TrimSpace(msg[:n]))
	}
	return nil
}

// waitInit waits (bounded by d) for the container's init, which is our
// child by now (create exited and it was reparented to us), and returns
// its exit code.
func waitInit(pid int, d time.Duration) (int, error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("open pidfd of init %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	for deadline := time.Now().Add(d); ; {
		left := time.Until(deadline)
		if left <= 0 {
			unix.Kill(pid, unix.SIGKILL)
			return -1, fmt.Errorf("wait for init %d: timed out after %v", pid, d)
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, fmt.Errorf("wait for init %d: %w", pid, err)
		}
		if n > 0 {
			break
		}
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return -1, fmt.Errorf("reap init %d: %w", pid, err)
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// reapStrays reaps helper processes of the runtimes that were reparented
// to us and have exited.
func reapStrays() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// version returns the first line of "PROG --version".
func version(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "unknown"
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

func kernel() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
