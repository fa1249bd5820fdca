package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/lamina-dev/lamina/engine"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
)

func init() { register(newStopCmd) }

func newStopCmd() *cobra.Command {
	var storeRoot string
	var secs int
	c := runtimeCmd(&cobra.Command{
		Use:   "stop [flags] NAME...",
		Short: "Stop containers made by lamina run: StopSignal, then SIGKILL after a timeout",
		Long: `stop sends each container the StopSignal of its image (SIGTERM when the
image sets none), waits up to --time seconds for it to exit, then sends
SIGKILL. It returns once the exit status is recorded, so "lamina ps -a"
shows it ("Exited (143)" for a process that SIGTERM killed). A container
that has already stopped is left as it is. The container and its writable
layer stay until "lamina rm".`,
		Example: "  lamina stop web\n  lamina stop -t 2 web worker\n  lamina stop -t 0 web   # SIGKILL at once after the StopSignal",
		Args:    cobra.MinimumNArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		if secs < 0 {
			return fmt.Errorf("--time: must not be negative, got %d", secs)
		}
		st, err := store.Open(storeRoot)
		if err != nil {
			return err
		}
		for _, name := range args {
			if err := engine.Stop(cmd.Context(), st, rt, name, time.Duration(secs)*time.Second); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), name)
		}
		return nil
	})
	c.Flags().StringVar(&storeRoot, "store", store.DefaultRoot(), "image store directory")
	c.Flags().IntVarP(&secs, "time", "t", 10, "seconds to wait for the container to exit before SIGKILL")
	return c
}
