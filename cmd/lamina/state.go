package main

import (
	"encoding/json"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
)

func init() { register(newStateCmd) }

func newStateCmd() *cobra.Command {
	return runtimeCmd(&cobra.Command{
		Use:     "state ID",
		Short:   "Print the state of a container as JSON",
		Example: "  lamina state ctr",
		Args:    cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		s, err := rt.State(args[0])
		if err != nil {
			return err
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(s)
	})
}
