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
}

// Wait waits for the container's init to exit and returns its exit code,
// 128+N when it was killed by signal N.
func (c *Container) Wait() (int, error) {
	err := c.cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return -1, fmt.Errorf("wait for init: %w", err)
	}
	ws := c.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// initConfig is what the parent sends to the init process over the sync
// socket, as one JSON document.
type initConfig struct {
	// SpecJSON is config.json as Create read (and validated) it: passed
	// on as it is, which saves encoding the large spec types again.
	SpecJSON    json.RawMessage `json:"spec"`
	Rootfs      string          `json:"rootfs"`
	FifoPath    string          `json:"fifoPath"`
	NoPivot     bool            `json:"noPivot"`
	PreserveFDs int             `json:"preserveFDs"`
	// Spec is SpecJSON decoded, in init.
	Spec *specs.Spec `json:"-"`
}

// initReply is what init answers once the container is set up (or not).
type initReply struct {
	Error string `json:"error,omitempty"`
}

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
	var cgPaths map[string]string
	defer func() {
		if retErr == nil {
			return
		}
		if cmd != nil && cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if cgPaths != nil {
			destroyCgroup(cgPaths)
		}
		os.RemoveAll(dir)
	}()

	fifo := filepath.Join(dir, fifoFile)
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		return nil, fmt.Errorf("create %s: %w", fifo, err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("create sync socket: %w", err)
	}
	parentSock := os.NewFile(uintptr(fds[0]), "sync-parent")
	childSock := os.NewFile(uintptr(fds[1]), "sync-child")
	defer parentSock.Close()

	cmd = exec.Command(o.initPath, o.initArgs...)
	cmd.Args[0] = "lamina-init"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.stdin, o.stdout, o.stderr
	// Duplicates of the preserved fds, so that no *os.File (and its
	// finalizer) ever owns the caller's own fds.
	for i := 0; i < o.preserveFDs; i++ {
		fd, err := unix.FcntlInt(uintptr(3+i), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("preserve fd %d: %w", 3+i, err)
		}
		f := os.NewFile(uintptr(fd), "preserved")
		defer f.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, childSock)
	cmd.Env = []string{initFDEnv + "=" + strconv.Itoa(3+o.preserveFDs)}
	cmd.SysProcAttr = sysProcAttr(spec)
	err = cmd.Start()
	childSock.Close()
	if err != nil {
		cmd = nil
		return nil, fmt.Errorf("start init: %w", err)
	}
	pid := cmd.Process.Pid
	_, start, err := procStat(pid)
	if err != nil {
		return nil, fmt.Errorf("read init start time: %w", err)
	}
	if cgPaths, err = applyCgroup(cg, pid); err != nil {
		return nil, err
	}

	// Hand init its configuration and wait for it to report the
	// container ready, bounded by ctx.
	stop := context.AfterFunc(ctx, func() { parentSock.SetDeadline(time.Now()) })
	defer stop()
	ic := initConfig{SpecJSON: specJSON, Rootfs: rootfs, FifoPath: fifo, NoPivot: o.noPivot, PreserveFDs: o.preserveFDs}
	if err := json.NewEncoder(parentSock).Encode(&ic); err != nil {
		return nil, fmt.Errorf("send init config: %w", err)
	}
	var reply initReply
	if err := json.NewDecoder(parentSock).Decode(&reply); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("wait for init: %w", ctx.Err())
		}
		if st := exitedBriefly(cmd, time.Second); st != "" {
			// Killed before answering: usually an OOM kill, the init
			// counts against the container's memory limit.
			return nil, fmt.Errorf("init exited before the container was set up (%s)", st)
		}
		return nil, fmt.Errorf("wait for init: %w", err)
	}
	if reply.Error != "" {
		return nil, errors.New(reply.Error)
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
	}
	if err := writeRecord(dir, rec); err != nil {
		return nil, fmt.Errorf("write state: %w", err)
	}
	if o.pidFile != "" {
		if err := writeFileAtomic(o.pidFile, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return nil, fmt.Errorf("write pid file: %w", err)
		}
	}
	return &Container{ID: id, Pid: pid, cmd: cmd}, nil
}

// sysProcAttr returns the clone flags and id mappings for init. The
// cgroup namespace is left out: init unshares it after the parent has
// moved it into its cgroup, so that the cgroup becomes the namespace root.
func sysProcAttr(s *specs.Spec) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != specs.CgroupNamespace {
			a.Cloneflags |= namespaceFlags[ns.Type]
		}
	}
	for _, m := range s.Linux.UIDMappings {
		a.UidMappings = append(a.UidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	for _, m := range s.Linux.GIDMappings {
		a.GidMappings = append(a.GidMappings, syscall.SysProcIDMap{ContainerID: int(m.ContainerID), HostID: int(m.HostID), Size: int(m.Size)})
	}
	// An unprivileged process may only write a gid map once setgroups is
	// denied; root keeps setgroups so additionalGids work.
	a.GidMappingsEnableSetgroups = os.Geteuid() == 0
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
