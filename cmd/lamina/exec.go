package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

func init() { register(newExecCmd) }

// execFlags are runc's exec flags.
type execFlags struct {
	process, pidFile, consoleSocket, cwd, user string
	env, caps                                  []string
	gids                                       []uint
	detach, tty, noNewPrivs                    bool
	preserveFDs                                int
}

func (f *execFlags) add(fs *pflag.FlagSet) {
	fs.StringVarP(&f.process, "process", "p", "", "path to a process.json (the runtime-spec process object) instead of COMMAND")
	fs.BoolVarP(&f.detach, "detach", "d", false, "return once the process runs instead of waiting for it")
	fs.StringVar(&f.pidFile, "pid-file", "", "write the process's pid to this file")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "add an environment variable NAME=VALUE (repeatable)")
	fs.StringVar(&f.cwd, "cwd", "", "working directory in the container (default: config.json's process.cwd)")
	fs.StringVarP(&f.user, "user", "u", "", "run as UID[:GID] (default: config.json's process.user)")
	fs.UintSliceVarP(&f.gids, "additional-gids", "g", nil, "add a supplementary group id (repeatable)")
	fs.StringArrayVarP(&f.caps, "cap", "c", nil, "add a capability (CAP_NET_ADMIN) to the bounding, effective and permitted sets (repeatable)")
	fs.BoolVar(&f.noNewPrivs, "no-new-privs", false, "set no_new_privs for the process")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio (3, 4, ...) to the process")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-terminal; in the foreground lamina relays it to its own stdio")
	fs.StringVar(&f.consoleSocket, "console-socket", "", "unix socket to send the pty master to (with --tty; needed with --detach)")
}

func newExecCmd() *cobra.Command {
	var f execFlags
	c := runtimeCmd(&cobra.Command{
		Use:   "exec [flags] ID COMMAND [ARG...] | exec [flags] --process process.json ID",
		Short: "Run a process in a running container",
		Long: `exec runs a process in container ID (created or running): in every
namespace and cgroup of its init, in its root directory, as runc exec
does. The process starts from config.json's process section with COMMAND
as its arguments, changed by the flags; or it is the process object of
--process, used as it is.

Without --detach, lamina forwards the signals it receives to the process,
waits for it and exits with its exit code (128+N when killed by signal N).

With --tty the process gets a new pty from the container's devpts. In the
foreground lamina relays it to its own stdin and stdout (raw mode when
stdin is a terminal); with --console-socket, or with --detach (which needs
it), the pty master goes to that socket, as with "lamina create".`,
		Example: `  lamina exec ctr ps
  lamina exec -e DEBUG=1 --cwd /tmp -u 1000:1000 ctr sh -c 'id; pwd'
  lamina exec --detach --pid-file sleeper.pid ctr sleep 600
  lamina exec -t ctr sh                          # an interactive shell
  lamina exec --process process.json ctr`,
		Args: cobra.MinimumNArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		if f.preserveFDs < 0 {
			return errors.New("--preserve-fds: must not be negative")
		}
		id := args[0]
		p, err := f.buildProcess(cmd.Flags(), rt, id, args[1:])
		if err != nil {
			return err
		}
		var opts []runtime.CreateOption
		if f.pidFile != "" {
			opts = append(opts, runtime.WithPidFile(f.pidFile))
		}
		if f.preserveFDs > 0 {
			opts = append(opts, runtime.WithPreserveFDs(f.preserveFDs))
		}
		// In the foreground a terminal is relayed by lamina itself, as
		// runc exec does; a detached one goes to a console socket.
		var tty *foregroundTTY
		switch {
		case f.consoleSocket != "":
			opts = append(opts, runtime.WithConsoleSocket(f.consoleSocket))
		case p.Terminal && !f.detach:
			if tty, err = newForegroundTTY(); err != nil {
				return err
			}
			defer tty.close()
			opts = append(opts, tty.option())
		}
		if p.Terminal && p.ConsoleSize == nil {
			p.ConsoleSize = terminalSize()
		}
		// Catch signals before the process exists, so none is lost.
		sigs := make(chan os.Signal, 32)
		if !f.detach {
			signal.Notify(sigs)
			defer signal.Stop(sigs)
		}
		proc, err := rt.Exec(cmd.Context(), id, p, opts...)
		if err != nil {
			return consoleHint(err)
		}
		if f.detach {
			return nil
		}
		stopTTY := func() {}
		if tty != nil {
			if stopTTY, err = tty.relay(cmd.Context(), true); err != nil {
				proc.Signal(unix.SIGKILL)
				proc.Wait()
				return err
			}
		}
		code, err := waitForwarding(sigs, proc.Wait, proc.Signal)
		stopTTY()
		if err != nil {
			return err
		}
		if code != 0 {
			return &exitError{code: code}
		}
		return nil
	})
	f.add(c.Flags())
	c.Flags().SetInterspersed(false) // flags after COMMAND belong to it
	return c
}

// buildProcess reads --process, or starts from the container's
// config.json process and applies COMMAND and the flags as runc does.
func (f *execFlags) buildProcess(fs *pflag.FlagSet, rt *runtime.Runtime, id string, args []string) (*specs.Process, error) {
	if f.process != "" {
		if len(args) > 0 {
			return nil, errors.New("--process: COMMAND must not be given with --process")
		}
		for _, name := range []string{"env", "cwd", "user", "additional-gids", "cap", "no-new-privs"} {
			if fs.Changed(name) {
				return nil, fmt.Errorf("--%s: cannot be combined with --process (edit process.json instead)", name)
			}
		}
		b, err := os.ReadFile(f.process)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, fmt.Errorf("--process: parse %s: %w", f.process, err)
		}
		p.Terminal = p.Terminal || f.tty
		return &p, nil
	}
	if len(args) == 0 {
		return nil, errors.New("exec: COMMAND is required without --process")
	}
	p, err := rt.Process(id)
	if err != nil {
		return nil, err
	}
	p.Terminal = f.tty
	p.ConsoleSize = nil
	p.Args = args
	p.Env = oci.OverrideEnv(p.Env, f.env) // the last value wins, as runc's
	if f.cwd != "" {
		p.Cwd = f.cwd
	}
	if f.user != "" {
		uid, gid, hasGID := strings.Cut(f.user, ":")
		n, err := strconv.ParseUint(uid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--user: want UID[:GID] with numeric ids, got %q", f.user)
		}
		p.User.UID = uint32(n)
		if hasGID {
			n, err := strconv.ParseUint(gid, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--user: want UID[:GID] with numeric ids, got %q", f.user)
			}
			p.User.GID = uint32(n)
		}
	}
	for _, g := range f.gids {
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
	}
	if len(f.caps) > 0 {
		if p.Capabilities == nil {
			p.Capabilities = &specs.LinuxCapabilities{}
		}
		c := p.Capabilities
		c.Bounding = append(c.Bounding, f.caps...)
		c.Effective = append(c.Effective, f.caps...)
		c.Permitted = append(c.Permitted, f.caps...)
	}
	if f.noNewPrivs {
		p.NoNewPrivileges = true
	}
	return p, nil
}
