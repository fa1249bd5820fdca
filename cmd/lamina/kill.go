package main

import (
	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func init() { register(newKillCmd) }

func newKillCmd() *cobra.Command {
	return runtimeCmd(&cobra.Command{
		Use:     "kill ID [SIGNAL]",
		Short:   "Send a signal (default SIGTERM) to a container's init",
		Example: "  lamina kill ctr\n  lamina kill ctr KILL\n  lamina kill ctr 9",
		Args:    cobra.RangeArgs(1, 2),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		sig := unix.SIGTERM
		if len(args) == 2 {
			var err error
			if sig, err = runtime.ParseSignal(args[1]); err != nil {
				return err
			}
		}
		return rt.Kill(args[0], sig)
	})
}
