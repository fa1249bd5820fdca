package main

import (
	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
)

func init() {
	register(newPauseCmd)
	register(newResumeCmd)
}

func newPauseCmd() *cobra.Command {
	return runtimeCmd(&cobra.Command{
		Use:   "pause ID",
		Short: "Freeze every process of a running container",
		Long: `pause freezes every process of container ID through its cgroup's freezer
(as runc pause does); "lamina state" then reports "paused" until "lamina
resume ID". Signals sent meanwhile wait until it is resumed; "lamina
delete --force" kills and removes a paused container.`,
		Example: "  lamina pause ctr\n  lamina state ctr   # \"status\": \"paused\"\n  lamina resume ctr",
		Args:    cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		return rt.Pause(args[0])
	})
}

func newResumeCmd() *cobra.Command {
	return runtimeCmd(&cobra.Command{
		Use:     "resume ID",
		Short:   "Thaw a paused container",
		Example: "  lamina resume ctr",
		Args:    cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		return rt.Resume(args[0])
	})
}
