package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/lamina-dev/lamina/engine"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
)

func init() { register(newRmCmd) }

func newRmCmd() *cobra.Command {
	var storeRoot string
	var force bool
	c := runtimeCmd(&cobra.Command{
		Use:   "rm [flags] NAME...",
		Short: "Remove containers made by lamina run IMAGE, with their writable layers",
		Long: `rm removes stopped containers made by "lamina run IMAGE": the runtime state,
the union mount, the writable layer and, for "run -d", the log. A running
container is refused unless --force, which SIGKILLs it first.`,
		Example: "  lamina rm web\n  lamina rm --force web",
		Args:    cobra.MinimumNArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		st, err := store.Open(storeRoot)
		if err != nil {
			return err
		}
		for _, name := range args {
			// Each container gets its own time to stop.
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			err := engine.Remove(ctx, st, rt, name, force)
			cancel()
			if err != nil {
				return err
			}
		}
		return nil
	})
	c.Flags().StringVar(&storeRoot, "store", store.DefaultRoot(), "image store directory")
	c.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return c
}
