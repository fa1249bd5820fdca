package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Process is a process started by Exec in a container. It is a child of
// the calling process, which must Wait for it (or exit, leaving it to its
// own parent, as "lamina exec --detach" does).
type Process struct {
	Pid int
	ent *entered
}

// Wait waits for the process to exit and returns its exit code, 128+N
// when it was killed by signal N.
func (p *Process) Wait() (int, error) { return p.ent.wait() }

// Signal sends sig to the process (through a pidfd: never to a reused pid).
func (p *Process) Signal(sig unix.Signal) error {
	if err := p.ent.proc.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("%w: process %d", ErrNotRunning, p.Pid)
		}
		return fmt.Errorf("signal process %d: %w", p.Pid, err)
	}
	return nil
}

// execNamespaces is the order in which Exec joins the namespaces of a
// container's init: the user namespace first (it grants the capabilities
// needed to join the namespaces it owns), the mount namespace last.
var execNamespaces = []struct {
	typ  specs.LinuxNamespaceType
	file string
}{
	{specs.UserNamespace, "user"}, {specs.IPCNamespace, "ipc"}, {specs.UTSNamespace, "uts"},
	{specs.NetworkNamespace, "net"}, {specs.PIDNamespace, "pid"}, {specs.CgroupNamespace, "cgroup"},
	{specs.TimeNamespace, "time"}, {specs.MountNamespace, "mnt"},
}

// Exec starts process p in container id, which must be created or
// running: in every namespace of its init and in its cgroups, with the
// init's root directory, and with p's user, capabilities, rlimits, cwd,
// environment, umask and no_new_privs applied as Create applies them to
// init. It returns once p has been exec'd. Options: WithStdio,
// WithPidFile (the process's pid), WithPreserveFDs, WithInitCommand, and
// WithConsoleSocket or WithConsole when p.Terminal is set (the process
// gets a new pty of the container's devpts, as init does, without
// /dev/console);
// WithNoPivot is an error. The container's linux.seccomp filter applies
// to p too. p is validated as config.json's process is.
func (r *Runtime) Exec(ctx context.Context, id string, p *specs.Process, opts ...CreateOption) (_ *Process, retErr error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if o.noPivot {
		return nil, errors.New("exec: WithNoPivot applies to Create only")
	}
	if p == nil {
		return nil, configErrorf("process", "must be set")
	}
	if err := validateProcess(p, "process"); err != nil {
		return nil, err
	}
	l, rec, err := r.lock(id, false)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	if st := rec.status(l.path); st != specs.StateCreated && st != specs.StateRunning {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotRunning, id, st)
	}

	pidfd, err := rec.pidfd()
	if err != nil {
		return nil, err
	}
	defer unix.Close(pidfd)
	join, root, err := openInitNamespaces(rec.Pid)
	if err != nil {
		return nil, err
	}
	defer closeFiles(append(join, root))
	// The fds were opened by pid: check that it is still the init the
	// pidfd (verified against the start time) refers to.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, id)
	}

	console, err := o.openConsole(p)
	if err != nil {
		return nil, err
	}
	if console != nil {
		defer console.Close()
	}
	parentSock, childSock, err := syncPair()
	if err != nil {
		return nil, err
	}
	defer parentSock.Close()
	cmd, preserved, err := o.reexec("lamina-exec", console)
	if err != nil {
		childSock.Close()
		return nil, err
	}
	defer closeFiles(preserved)
	rootFD := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, root)
	consoleFD := 0
	if console != nil {
		consoleFD = 3 + len(cmd.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, console)
	}
	paths := rec.CgroupPaths
	ent, err := startEntered(ctx, cmd, parentSock, childSock, &enterPlan{
		join:   join,
		cgroup: func(pid int) error { return joinCgroups(paths, pid) },
	})
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			ent.kill()
		}
	}()
	stop := context.AfterFunc(ctx, func() { parentSock.SetDeadline(time.Now()) })
	defer stop()
	ic := initConfig{PreserveFDs: o.preserveFDs, ConsoleFD: consoleFD, Exec: &execConfig{Process: p, RootFD: rootFD, Seccomp: rec.Seccomp}}
	if err := json.NewEncoder(parentSock).Encode(&ic); err != nil {
		return nil, fmt.Errorf("send exec config: %w", err)
	}
	// EOF: the socket closed at the exec. A reply carries an error.
	var reply initReply
	if err := json.NewDecoder(ent.rd).Decode(&reply); err != io.EOF {
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("wait for exec: %w", ctx.Err())
			}
			return nil, fmt.Errorf("wait for exec: %w", err)
		}
		return nil, errors.New(reply.Error)
	}
	pid := ent.proc.Pid
	if o.pidFile != "" {
		if err := writeFileAtomic(o.pidFile, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return nil, fmt.Errorf("write pid file: %w", err)
		}
	}
	return &Process{Pid: pid, ent: ent}, nil
}

// openInitNamespaces opens the namespaces of pid that differ from the
// caller's, in execNamespaces order, and an O_PATH fd on its root.
func openInitNamespaces(pid int) (join []*os.File, root *os.File, err error) {
	defer func() {
		if err != nil {
			closeFiles(join)
		}
	}()
	proc := "/proc/" + strconv.Itoa(pid)
	for _, ns := range execNamespaces {
		f, err := os.Open(proc + "/ns/" + ns.file)
		if errors.Is(err, os.ErrNotExist) {
			continue // a kernel without this namespace type
		}
		if err != nil {
			return join, nil, fmt.Errorf("open %s namespace of init: %w", ns.typ, err)
		}
		same, err := sameFile(f, "/proc/self/ns/"+ns.file)
		if err != nil {
			f.Close()
			return join, nil, err
		}
		if same {
			f.Close()
			continue
		}
		join = append(join, f)
	}
	fd, err := unix.Open(proc+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return join, nil, fmt.Errorf("open root of init: %w", err)
	}
	return joinOrder(join), os.NewFile(uintptr(fd), "init-root"), nil
}

func sameFile(f *os.File, path string) (bool, error) {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return false, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	if err := unix.Stat(path, &b); err != nil {
		return false, fmt.Errorf("stat %s: %w", path, err)
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// joinCgroups moves pid into every cgroup directory of a container. A
// caller without root skips the directories it may not write (a rootless
// container without a delegated cgroup has none), as Create does.
func joinCgroups(paths map[string]string, pid int) error {
	done := map[string]bool{}
	for _, dir := range paths {
		if dir == "" || done[dir] {
			continue
		}
		done[dir] = true
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := cgroups.WriteCgroupProc(dir, pid); err != nil {
			if Rootless() && errors.Is(err, os.ErrPermission) {
				continue
			}
			return fmt.Errorf("join cgroup %s: %w", dir, err)
		}
	}
	return nil
}

// syncPair makes the socket pair between the runtime and a process it
// re-executes: the parent's end and the child's.
func syncPair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("create sync socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sync-parent"), os.NewFile(uintptr(fds[1]), "sync-child"), nil
}

// reexec returns the command that re-executes the init program under the
// name argv0: with the caller's stdio unless there is a console (then
// /dev/null, the pty takes over), and with ExtraFiles starting with
// duplicates of the preserved fds 3 .. 3+n-1, so that no *os.File (and its
// finalizer) ever owns the caller's own fds. The caller closes those.
func (o *createOptions) reexec(argv0 string, console *os.File) (*exec.Cmd, []*os.File, error) {
	cmd := exec.Command(o.initPath, o.initArgs...)
	cmd.Args[0] = argv0
	if console == nil {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = o.stdin, o.stdout, o.stderr
	}
	var preserved []*os.File
	for i := 0; i < o.preserveFDs; i++ {
		fd, err := unix.FcntlInt(uintptr(3+i), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			closeFiles(preserved)
			return nil, nil, fmt.Errorf("preserve fd %d: %w", 3+i, err)
		}
		preserved = append(preserved, os.NewFile(uintptr(fd), "preserved"))
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, preserved...)
	return cmd, preserved, nil
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}

// Process returns container id's process as config.json had it at
// Create (state.json keeps it): "lamina exec" starts from it, as runc
// exec does, whatever the bundle holds now.
func (r *Runtime) Process(id string) (*specs.Process, error) {
	l, rec, err := r.lock(id, false)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	if rec.Process == nil {
		return nil, fmt.Errorf("%s: state.json has no process (made by an older lamina); use --process", id)
	}
	return rec.Process, nil
}
