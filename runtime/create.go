package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CreateOption changes how Create starts a container.
type CreateOption func(*createOptions)

type createOptions struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	pidFile        string
	noPivot        bool
	preserveFDs    int
	initPath       string
	initArgs       []string
	consoleSocket  string   // WithConsoleSocket
	console        *os.File // WithConsole
}

// defaults are every default of Create, in one place.
func defaults() createOptions {
	return createOptions{
		stdin:    os.Stdin,
		stdout:   os.Stdout,
		stderr:   os.Stderr,
		initPath: "/proc/self/exe",
		initArgs: []string{"init"},
	}
}

// WithStdio sets the container process's stdio (default: the caller's).
// In terminal mode the container's stdio is its terminal and init gets
// /dev/null until it has one: these are not used.
func WithStdio(in io.Reader, out, err io.Writer) CreateOption {
	return func(o *createOptions) { o.stdin, o.stdout, o.stderr = in, out, err }
}

// WithPidFile makes Create write the init pid (decimal, no newline) to path.
func WithPidFile(path string) CreateOption { return func(o *createOptions) { o.pidFile = path } }

// WithNoPivot switches the root with MS_MOVE and chroot instead of
// pivot_root (for a rootfs on a ramfs, where pivot_root fails).
func WithNoPivot() CreateOption { return func(o *createOptions) { o.noPivot = true } }

// WithPreserveFDs passes the caller's fds 3 .. 3+n-1 to the container.
func WithPreserveFDs(n int) CreateOption { return func(o *createOptions) { o.preserveFDs = n } }

// WithInitCommand sets the program that Create re-executes as the
// container's init, and its arguments (without argv[0]). It must call
// Init. The default is /proc/self/exe with the single argument "init".
func WithInitCommand(path string, args ...string) CreateOption {
	return func(o *createOptions) { o.initPath, o.initArgs = path, args }
}

// Container is a handle on a container created by this process. Only the
// creating process can Wait for it; others use State.
type Container struct {
	ID  string
	Pid int
	cmd *exec.Cmd
	ent *entered // set when init was started through the nsenter constructor
}

// Wait waits for the container's init to exit and returns its exit code,
// 128+N when it was killed by signal N.
func (c *Container) Wait() (int, error) {
	if c.ent != nil {
		return c.ent.wait()
	}
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -1, fmt.Errorf("wait for init: %w", err)
	}
	return exitCode(c.cmd.ProcessState), nil
}

// exitCode is the exit status of a process, 128+N when signal N killed it.
func exitCode(st *os.ProcessState) int {
	ws := st.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// initConfig is what the parent sends to the init process over the sync
// socket, as one JSON document.
type initConfig struct {
	// SpecJSON is config.json as Create read (and validated) it: passed
	// on as it is, which saves encoding the large spec types again.
	SpecJSON json.RawMessage `json:"spec,omitempty"`
	Rootfs   string          `json:"rootfs"`
	// FifoFD is an O_PATH fd on exec.fifo, which init reopens through
	// /proc/self/fd: it may not be able to reach the state directory
	// (mode 0700 root) as root of its user namespace.
	FifoFD      int  `json:"fifoFD"`
	NoPivot     bool `json:"noPivot"`
	PreserveFDs int  `json:"preserveFDs"`
	// ConsoleFD is init's fd of the connected console socket in terminal
	// mode, 0 without a terminal.
	ConsoleFD int `json:"consoleFD,omitempty"`
	// State is what the hooks init runs get on stdin (status aside).
	State specs.State `json:"state"`
	// Exec is set instead of SpecJSON, Rootfs and FifoFD for a process
	// started by Exec in a running container.
	Exec *execConfig `json:"exec,omitempty"`
	// Spec is SpecJSON decoded, in init.
	Spec *specs.Spec `json:"-"`
}

// initReply is what init answers once the container is set up (or not).
// Hooks means init has set up the mounts and waits, before the root
// switch, for the parent to run the prestart and createRuntime hooks and
// send an initResume.
type initReply struct {
	Error string `json:"error,omitempty"`
	Hooks bool   `json:"hooks,omitempty"`
	// Hook is set when Error comes from a hook init ran, so that the
	// caller gets a *HookError back.
	Hook *wireHookError `json:"hook,omitempty"`
}

// wireHookError is a *HookError as JSON.
type wireHookError struct {
	Kind    string `json:"kind"`
	Index   int    `json:"index"`
	Path    string `json:"path"`
	Err     string `json:"err"`
	Output  string `json:"output,omitempty"`
	Timeout bool   `json:"timeout,omitempty"`
}

// errorReply is the initReply that reports err.
func errorReply(err error) *initReply {
	r := &initReply{Error: err.Error()}
	var he *HookError
	if errors.As(err, &he) {
		r.Hook = &wireHookError{Kind: he.Kind, Index: he.Index, Path: he.Path, Err: he.Err.Error(),
			Output: he.Output, Timeout: errors.Is(he.Err, ErrHookTimeout)}
	}
	return r
}

// err returns the error a reply reports, nil if none.
func (r *initReply) err() error {
	switch {
	case r.Hook != nil:
		h := r.Hook
		err := errors.New(h.Err)
		if h.Timeout {
			err = fmt.Errorf("%w%s", ErrHookTimeout, strings.TrimPrefix(h.Err, ErrHookTimeout.Error()))
		}
		return &HookError{Kind: h.Kind, Index: h.Index, Path: h.Path, Err: err, Output: h.Output}
	case r.Error != "":
		return errors.New(r.Error)
	}
	return nil
}

// initResume is what the parent sends after the createRuntime hooks.
type initResume struct{}

// initFDEnv names the environment variable that tells a re-executed
// process it is a container init, and which fd is its sync socket.
const initFDEnv = "_LAMINA_INIT_FD"

// Create creates container id from the bundle directory: it validates
// config.json, makes the state directory, starts the init process in new
// namespaces and its cgroup, and returns once init has set up the root
// filesystem and is blocked waiting for Start. On error nothing is left
// behind: no state directory, cgroup or process.
func (r *Runtime) Create(ctx context.Context, id, bundle string, opts ...CreateOption) (_ *Container, retErr error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if err := checkID(id); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(bundle)
	if err != nil {
		return nil, fmt.Errorf("resolve bundle: %w", err)
	}
	spec, specJSON, err := loadBundle(bundle)
	if err != nil {
		return nil, err
	}
	if err := Validate(spec, bundle); err != nil {
		return nil, err
	}
	cg, err := cgroupConfig(id, spec)
	if err != nil {
		return nil, err
	}
	rootfs := spec.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if rootfs, err = filepath.EvalSymlinks(rootfs); err != nil {
		return nil, &ConfigError{Field: "root.path", Err: err}
	}

	// The state directory: mkdir is the atomic claim on the ID.
	dir := r.dir(id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrExist, id)
		}
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	lockF, err := os.Open(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("open state dir: %w", err)
	}
	defer lockF.Close()
	if err := flock(lockF, unix.LOCK_EX); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lock state dir: %w", err)
	}
	var cmd *exec.Cmd
	var ent *entered
	var cgPaths map[string]string
	var hookState specs.State
	defer func() {
		if retErr == nil {
			return
		}
		if ent != nil {
			ent.kill()
		} else if cmd != nil && cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if cgPaths != nil {
			destroyCgroup(cgPaths)
		}
		os.RemoveAll(dir)
		// A failing prestart, createRuntime or createContainer hook stops
		// the container and the lifecycle goes on to its end: poststop.
		if he := (*HookError)(nil); errors.As(retErr, &he) {
			warnHooks(context.WithoutCancel(ctx), spec.Hooks, hookState, specs.StateStopped, hookPoststop, r.warn)
		}
	}()

	// After the ID is claimed, so that a console socket listener sees a
	// connection only from a create that can succeed.
	console, err := o.openConsole(spec.Process)
	if err != nil {
		return nil, err
	}
	if console != nil {
		defer console.Close()
	}
	fifo := filepath.Join(dir, fifoFile)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, fmt.Errorf("create %s: %w", fifo, err)
	}
	parentSock, childSock, err := syncPair()
	if err != nil {
		return nil, err
	}
	defer parentSock.Close()
	var preserved []*os.File
	cmd, preserved, err = o.reexec("lamina-init", console)
	if err != nil {
		cmd = nil
		childSock.Close()
		return nil, err
	}
	defer closeFiles(preserved)
	fifoF, err := os.OpenFile(fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		childSock.Close()
		return nil, fmt.Errorf("open %s: %w", fifo, err)
	}
	defer fifoF.Close()
	fifoFD := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, fifoF)
	consoleFD := 0
	if console != nil {
		consoleFD = 3 + len(cmd.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, console)
	}
	var pid int
	if needsEnter(spec) {
		// Through the nsenter constructor: it joins the namespaces
		// with a path, makes the new ones and the time namespace, and
		// forks init inside.
		plan, err := createPlan(spec)
		if err != nil {
			childSock.Close()
			return nil, err
		}
		defer closeFiles(plan.join)
		plan.cgroup = func(p int) (err error) { cgPaths, err = applyCgroup(cg, p); return err }
		if ent, err = startEntered(ctx, cmd, parentSock, childSock, plan); err != nil {
			cmd = nil // startEntered left nothing running
			return nil, err
		}
		pid = ent.proc.Pid
		// Init opens the fifo as root of its user namespace, new or
		// joined, which may be another host user than the caller (0
		// mapped to 100000): the fifo becomes that user's.
		if err := chownToProcess(fifo, pid); err != nil {
			return nil, err
		}
	} else {
		cmd.ExtraFiles = append(cmd.ExtraFiles, childSock)
		cmd.Env = []string{initFDEnv + "=" + strconv.Itoa(3+len(cmd.ExtraFiles)-1)}
		cmd.SysProcAttr = sysProcAttr(spec)
		err = cmd.Start()
		childSock.Close()
		if err != nil {
			cmd = nil
			return nil, fmt.Errorf("start init: %w", err)
		}
		pid = cmd.Process.Pid
		if cgPaths, err = applyCgroup(cg, pid); err != nil {
			return nil, err
		}
	}
	_, start, err := procStat(pid)
	if err != nil {
		return nil, fmt.Errorf("read init start time: %w", err)
	}

	// Hand init its configuration and wait for it to report the
	// container ready, bounded by ctx.
	stop := context.AfterFunc(ctx, func() { parentSock.SetDeadline(time.Now()) })
	defer stop()
	hookState = specs.State{Version: specs.Version, ID: id, Pid: pid, Bundle: bundle, Annotations: spec.Annotations}
	ic := initConfig{SpecJSON: specJSON, Rootfs: rootfs, FifoFD: fifoFD, NoPivot: o.noPivot, PreserveFDs: o.preserveFDs, ConsoleFD: consoleFD, State: hookState}
	enc := json.NewEncoder(parentSock)
	if err := enc.Encode(&ic); err != nil {
		return nil, fmt.Errorf("send init config: %w", err)
	}
	var rd io.Reader = parentSock
	if ent != nil {
		rd = ent.rd
	}
	dec := json.NewDecoder(rd)
	for {
		var reply initReply
		if err := dec.Decode(&reply); err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("wait for init: %w", ctx.Err())
			}
			if ent == nil {
				if st := exitedBriefly(cmd, time.Second); st != "" {
					// Killed before answering: usually an OOM kill, the
					// init counts against the container's memory limit.
					return nil, fmt.Errorf("init exited before the container was set up (%s)", st)
				}
			}
			return nil, fmt.Errorf("wait for init: %w", err)
		}
		if err := reply.err(); err != nil {
			return nil, err
		}
		if !reply.Hooks {
			break
		}
		// The namespaces and mounts exist, the root is not switched yet:
		// prestart (deprecated) and createRuntime run here, in the
		// runtime's namespaces.
		if err := runHooks(ctx, spec.Hooks, hookState, specs.StateCreating, hookPrestart, hookCreateRuntime); err != nil {
			return nil, err
		}
		if err := enc.Encode(&initResume{}); err != nil {
			return nil, fmt.Errorf("resume init: %w", err)
		}
	}

	rec := &record{
		State: State{
			State: specs.State{
				Version:     specs.Version,
				ID:          id,
				Pid:         pid,
				Bundle:      bundle,
				Annotations: spec.Annotations,
			},
			Rootfs:  rootfs,
			Created: time.Now().UTC(),
			Owner:   owner(),
		},
		InitStartTime: start,
		CgroupPaths:   cgPaths,
		Hooks:         spec.Hooks,
		Seccomp:       spec.Linux.Seccomp,
		Process:       spec.Process,
	}
	if err := writeRecord(dir, rec); err != nil {
		return nil, fmt.Errorf("write state: %w", err)
	}
	if o.pidFile != "" {
		if err := writeFileAtomic(o.pidFile, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return nil, fmt.Errorf("write pid file: %w", err)
		}
	}
	return &Container{ID: id, Pid: pid, cmd: cmd, ent: ent}, nil
}

// sysProcAttr returns the clone flags for init, which needsEnter has
// ruled out a user or time namespace and namespace paths for. The cgroup
// namespace is left out: init unshares it after the parent has moved it
// into its cgroup, so that the cgroup becomes the namespace root.
func sysProcAttr(s *specs.Spec) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.CgroupNamespace {
			a.Cloneflags |= namespaceFlags[ns.Type]
		}
	}
	return a
}

func owner() string {
	uid := strconv.Itoa(os.Geteuid())
	if u, err := user.LookupId(uid); err == nil {
		return u.Username
	}
	return uid
}

// exitedBriefly waits up to d for init to exit (become a zombie) and then
// reaps it, returning its wait status; "" if it is still alive.
func exitedBriefly(cmd *exec.Cmd, d time.Duration) string {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, _, err := procStat(cmd.Process.Pid)
		if err != nil || st == 'Z' {
			cmd.Wait()
			return cmd.ProcessState.String()
		}
	}
	return ""
}

// chownToProcess gives path to the effective host uid and gid of process
// pid (from /proc/PID/status), when they differ from the caller's.
func chownToProcess(path string, pid int) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return fmt.Errorf("read ids of init: %w", err)
	}
	ids := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if f := strings.Fields(v); (k == "Uid" || k == "Gid") && len(f) > 1 {
			if ids[k], err = strconv.Atoi(f[1]); err != nil {
				return fmt.Errorf("read ids of init: %s: %w", line, err)
			}
		}
	}
	if ids["Uid"] == os.Geteuid() && ids["Gid"] == os.Getegid() {
		return nil
	}
	if err := os.Chown(path, ids["Uid"], ids["Gid"]); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	return nil
}
