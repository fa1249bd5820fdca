package main

import (
	"errors"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
)

func init() { register(newDeleteCmd) }

func newDeleteCmd() *cobra.Command {
	var force bool
	c := runtimeCmd(&cobra.Command{
		Use:     "delete [--force] ID",
		Short:   "Delete a container: its cgroup and state",
		Example: "  lamina delete ctr\n  lamina delete --force ctr",
		Args:    cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		err := rt.Delete(cmd.Context(), args[0], force)
		if force && errors.Is(err, runtime.ErrNotExist) {
			return nil
		}
		return err
	})
	c.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first (SIGKILL)")
	return c
}
