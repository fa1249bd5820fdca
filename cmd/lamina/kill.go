package main

import (
	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func init() { register(newKillCmd) }

func newKillCmd() *cobra.Command {
	var all bool
	c := runtimeCmd(&cobra.Command{
		Use:   "kill [--all] ID [SIGNAL]",
		Short: "Send a signal (default SIGTERM) to a container's init",
		Long: `kill sends SIGNAL (a name or a number, default TERM) to the init of container
ID, or with --all to every process in its cgroup (as runc kill --all; for
containers that share a pid namespace, where the others outlive init).
Signal 0 sends nothing and only checks that the container runs.`,
		Example: "  lamina kill ctr\n  lamina kill ctr KILL\n  lamina kill ctr 9\n  lamina kill --all ctr KILL\n  lamina kill ctr 0   # exit status 0 while it runs",
		Args:    cobra.RangeArgs(1, 2),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		sig := unix.SIGTERM
		if len(args) == 2 && args[1] == "0" {
			sig = 0 // kill(2)'s existence check, which runc's kill passes on
		} else if len(args) == 2 {
			var err error
			if sig, err = runtime.ParseSignal(args[1]); err != nil {
				return err
			}
		}
		if all {
			return rt.KillAll(args[0], sig)
		}
		return rt.Kill(args[0], sig)
	})
	c.Flags().BoolVarP(&all, "all", "a", false, "signal every process in the container's cgroup, not only init")
	return c
}
