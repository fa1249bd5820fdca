package runtime

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/lamina-dev/lamina/runtime/internal/nsenter"
)

// errNoCgo: the runtime binary was built without cgo, so it has no nsenter
// constructor and cannot join namespaces.
var errNoCgo = errors.New("joining namespaces needs a lamina built with cgo (CGO_ENABLED=1)")

// enterPlan is what the nsenter constructor of the re-executed process
// does before the Go runtime starts (see runtime/internal/nsenter).
type enterPlan struct {
	join    []*os.File      // namespace fds, in join order (user first)
	unshare uintptr         // clone flags of new namespaces, after the joins
	timeNS  *string         // non-nil: a new time namespace with these offsets
	cgroup  func(int) error // moves the given pid into the cgroups, before any fork
	idmap   func(int) error // writes uid_map and gid_map of the given pid
}

// entered is a process started through the constructor: cmd is the
// intermediate process (it has exited, or is about to), proc the process
// that continues in the namespaces. Both are children of this process
// (CLONE_PARENT), so both must be waited for.
type entered struct {
	cmd  *exec.Cmd
	proc *os.Process
	rd   *bufio.Reader // the sync socket's read side, past the constructor's messages
}

// startEntered starts cmd with the constructor enabled. childSock is
// passed as the sync socket (and also announced to Init with initFDEnv);
// parentSock is our end. It returns once the constructor reported the pid
// of the process inside, or failed. On error nothing is left running.
func startEntered(ctx context.Context, cmd *exec.Cmd, parentSock, childSock *os.File, plan *enterPlan) (_ *entered, retErr error) {
	if !nsenter.Enabled {
		childSock.Close()
		return nil, errNoCgo
	}
	syncFD := 3 + len(cmd.ExtraFiles)
	cmd.ExtraFiles = append(cmd.ExtraFiles, childSock)
	var fds []string
	for _, f := range plan.join {
		fds = append(fds, strconv.Itoa(3+len(cmd.ExtraFiles)))
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	cmd.Env = append(cmd.Env, initFDEnv+"="+strconv.Itoa(syncFD), nsenter.EnvSync+"="+strconv.Itoa(syncFD))
	if len(fds) > 0 {
		cmd.Env = append(cmd.Env, nsenter.EnvJoin+"="+strings.Join(fds, ","))
	}
	if plan.unshare != 0 {
		cmd.Env = append(cmd.Env, nsenter.EnvUnshare+"="+strconv.FormatUint(uint64(plan.unshare), 10))
	}
	if plan.timeNS != nil {
		cmd.Env = append(cmd.Env, nsenter.EnvTimeNS+"="+*plan.timeNS)
	}
	err := cmd.Start()
	childSock.Close()
	if err != nil {
		return nil, fmt.Errorf("start init: %w", err)
	}
	e := &entered{cmd: cmd, rd: bufio.NewReader(parentSock)}
	defer func() {
		if retErr != nil {
			e.kill()
		}
	}()
	stop := context.AfterFunc(ctx, func() { parentSock.SetDeadline(time.Now()) })
	defer stop()
	if plan.cgroup != nil {
		if err := plan.cgroup(cmd.Process.Pid); err != nil {
			return nil, err
		}
	}
	if _, err := parentSock.Write([]byte{'g'}); err != nil {
		return nil, fmt.Errorf("release nsenter: %w", err)
	}
	for {
		line, err := e.rd.ReadString('\n')
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("enter namespaces: %w", ctx.Err())
			}
			if err == io.EOF {
				return nil, errors.New("enter namespaces: the process exited without a report")
			}
			return nil, fmt.Errorf("enter namespaces: %w", err)
		}
		verb, arg, _ := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		switch verb {
		case "idmap":
			if plan.idmap == nil {
				return nil, errors.New("enter namespaces: unexpected id map request")
			}
			if err := plan.idmap(cmd.Process.Pid); err != nil {
				return nil, err
			}
			if _, err := parentSock.Write([]byte{'g'}); err != nil {
				return nil, fmt.Errorf("release nsenter: %w", err)
			}
		case "pid":
			pid, err := strconv.Atoi(arg)
			if err != nil || pid <= 0 {
				return nil, fmt.Errorf("enter namespaces: bad report %q", line)
			}
			if e.proc, err = os.FindProcess(pid); err != nil {
				return nil, fmt.Errorf("find process %d: %w", pid, err)
			}
			// The intermediate exits right after the report; reap it
			// now unless os/exec must also drain stdio pipes (Wait
			// does that once the process inside has exited).
			if isFile(cmd.Stdin) && isFile(cmd.Stdout) && isFile(cmd.Stderr) {
				cmd.Wait()
			}
			return e, nil
		case "error":
			return nil, fmt.Errorf("enter namespaces: %s", arg)
		default:
			return nil, fmt.Errorf("enter namespaces: bad report %q", line)
		}
	}
}

func isFile(x any) bool {
	if x == nil {
		return true
	}
	_, ok := x.(*os.File)
	return ok
}

// kill kills and reaps both processes (best effort).
func (e *entered) kill() {
	if e.proc != nil {
		e.proc.Kill()
		e.proc.Wait()
	}
	if e.cmd.ProcessState == nil {
		e.cmd.Process.Kill()
		e.cmd.Wait()
	}
}

// wait waits for the process inside and returns its exit code, 128+N when
// killed by signal N; then it reaps the intermediate and lets os/exec
// finish copying stdio.
func (e *entered) wait() (int, error) {
	st, err := e.proc.Wait()
	if e.cmd.ProcessState == nil {
		e.cmd.Wait()
	}
	if err != nil {
		return -1, fmt.Errorf("wait for process %d: %w", e.proc.Pid, err)
	}
	return exitCode(st), nil
}
