package main

import (
	"errors"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
)

func init() { register(newInitCmd) }

var errNotInit = errors.New("init is internal: it is started by lamina create")

// newInitCmd is the hidden command runtime.Create re-executes
// (/proc/self/exe init) as the container's init process.
func newInitCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "init",
		Short:  "Container init (internal; started by create)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !runtime.IsInit() {
				return errNotInit
			}
			return runtime.Init()
		},
	}
}
