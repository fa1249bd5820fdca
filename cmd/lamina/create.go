package main

import (
	"fmt"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { register(newCreateCmd) }

type createFlags struct {
	bundle, pidFile, consoleSocket string
	noPivot, noNewKeyring          bool
	preserveFDs                    int
}

func (f *createFlags) add(fs *pflag.FlagSet) {
	fs.StringVarP(&f.bundle, "bundle", "b", ".", "bundle directory (holding config.json)")
	fs.StringVar(&f.pidFile, "pid-file", "", "write the init pid to this file")
	fs.StringVar(&f.consoleSocket, "console-socket", "", `unix socket to send the terminal's pty master to (SCM_RIGHTS), for "terminal": true`)
	fs.BoolVar(&f.noPivot, "no-pivot", false, "switch root with MS_MOVE and chroot instead of pivot_root")
	fs.BoolVar(&f.noNewKeyring, "no-new-keyring", false, "keep the caller's session keyring (lamina never creates one)")
	fs.IntVar(&f.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio (3, 4, ...) to the container")
}

func (f *createFlags) options() ([]runtime.CreateOption, error) {
	if f.preserveFDs < 0 {
		return nil, fmt.Errorf("--preserve-fds: must not be negative")
	}
	var opts []runtime.CreateOption
	if f.pidFile != "" {
		opts = append(opts, runtime.WithPidFile(f.pidFile))
	}
	if f.consoleSocket != "" {
		opts = append(opts, runtime.WithConsoleSocket(f.consoleSocket))
	}
	if f.noPivot {
		opts = append(opts, runtime.WithNoPivot())
	}
	if f.preserveFDs > 0 {
		opts = append(opts, runtime.WithPreserveFDs(f.preserveFDs))
	}
	return opts, nil
}

func newCreateCmd() *cobra.Command {
	var f createFlags
	c := runtimeCmd(&cobra.Command{
		Use:   "create [flags] ID",
		Short: "Create a container and leave its init waiting for start",
		Long: `create sets up container ID from the bundle (BUNDLE/config.json and its
rootfs) and leaves its init blocked until "lamina start ID".

With "terminal": true in config.json the container gets a pty of its own
and --console-socket is required: lamina connects to that unix socket and
sends the pty master over it (SCM_RIGHTS, as runc does); the listener
(containerd's shim, conmon, runc's recvtty) then owns the terminal.`,
		Example: `  lamina create --bundle ./bundle --pid-file ctr.pid ctr
  lamina start ctr

  # a terminal: something must listen on the socket and receive the master
  lamina create --bundle ./bundle --console-socket /run/ctr-console.sock ctr`,
		Args: cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		opts, err := f.options()
		if err != nil {
			return err
		}
		warnUnapplied(f.bundle)
		_, err = rt.Create(cmd.Context(), args[0], f.bundle, opts...)
		return consoleHint(err)
	})
	f.add(c.Flags())
	return c
}
