package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
)

func init() { register(newSpecCmd) }

func newSpecCmd() *cobra.Command {
	var bundle string
	var rootless bool
	c := &cobra.Command{
		Use:     "spec",
		Short:   "Write a default config.json into the bundle directory",
		Example: "  mkdir -p bundle/rootfs && lamina spec --bundle bundle\n  lamina spec --rootless",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p := filepath.Join(bundle, "config.json")
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%s exists; remove it first", p)
			}
			b, err := json.MarshalIndent(runtime.DefaultSpec(rootless), "", "\t")
			if err != nil {
				return err
			}
			return os.WriteFile(p, append(b, '\n'), 0o644)
		},
	}
	c.Flags().StringVarP(&bundle, "bundle", "b", ".", "bundle directory")
	c.Flags().BoolVar(&rootless, "rootless", false, "a config for an unprivileged user (user namespace)")
	return c
}
