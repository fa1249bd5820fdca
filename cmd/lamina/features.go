package main

import (
	"encoding/json"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"github.com/spf13/cobra"
)

func init() { register(newFeaturesCmd) }

// featuresJSON prints "hooks" even when the list is empty: in
// features.Features it is omitempty, and a missing list means "unknown",
// while an empty one means "no hook is supported".
type featuresJSON struct {
	*features.Features
	Hooks []string `json:"hooks"`
}

func newFeaturesCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "features",
		Short:   "Print the features this runtime implements as JSON",
		Long:    "Print the features this runtime implements, as runc's features command does\n(the runtime-spec features.Features document).",
		Example: "  lamina features",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := runtime.Features()
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "    ")
			return enc.Encode(featuresJSON{Features: f, Hooks: f.Hooks})
		},
	}
}
