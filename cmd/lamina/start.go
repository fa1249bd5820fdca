package main

import (
	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
)

func init() { register(newStartCmd) }

func newStartCmd() *cobra.Command {
	return runtimeCmd(&cobra.Command{
		Use:     "start ID",
		Short:   "Start the process of a created container",
		Example: "  lamina start ctr",
		Args:    cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		return rt.Start(args[0])
	})
}
