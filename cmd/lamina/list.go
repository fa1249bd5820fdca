package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
)

func init() { register(newListCmd) }

func newListCmd() *cobra.Command {
	var format string
	var quiet bool
	c := runtimeCmd(&cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List containers",
		Example: "  lamina list\n  lamina list --format json\n  lamina list -q",
		Args:    cobra.NoArgs,
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		states, err := rt.List()
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		switch {
		case quiet:
			for _, s := range states {
				fmt.Fprintln(out, s.ID)
			}
		case format == "json":
			if states == nil {
				states = []*runtime.State{}
			}
			return json.NewEncoder(out).Encode(states)
		case format == "table":
			w := tabwriter.NewWriter(out, 0, 8, 1, ' ', 0)
			fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
			for _, s := range states {
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
			}
			return w.Flush()
		default:
			return fmt.Errorf("--format: unknown format %q (want table or json)", format)
		}
		return nil
	})
	c.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the IDs")
	return c
}
