package main

import (
	"github.com/spf13/cobra"

	"github.com/lamina-dev/lamina/engine"
	"github.com/lamina-dev/lamina/oci/store"
)

func init() { register(newLogsCmd) }

func newLogsCmd() *cobra.Command {
	var storeRoot string
	var follow bool
	c := &cobra.Command{
		Use:   "logs [flags] NAME",
		Short: "Print the output of a container made by lamina run -d",
		Long: `logs prints what a detached container ("lamina run -d") wrote to its stdout
and stderr, kept in containers/<id>/container.log in the image store until
"lamina rm". With -f it keeps printing new output until the container has
exited.`,
		Example: "  lamina logs web\n  lamina logs -f web",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(storeRoot)
			if err != nil {
				return err
			}
			return engine.Logs(cmd.Context(), st, args[0], cmd.OutOrStdout(), follow)
		},
	}
	c.Flags().StringVar(&storeRoot, "store", store.DefaultRoot(), "image store directory")
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing output until the container exits")
	return c
}
