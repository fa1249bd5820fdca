package main

import (
	"encoding/json"

	"github.com/lamina-dev/lamina/oci/store"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
)

func init() { register(newInspectCmd) }

func newInspectCmd() *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:     "inspect [flags] REF",
		Short:   "Print an image's descriptor, manifest and config as JSON",
		Example: "  lamina inspect busybox",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			im, err := st.Resolve(args[0])
			if err != nil {
				return err
			}
			m, err := st.Manifest(im.Descriptor.Digest)
			if err != nil {
				return err
			}
			c, err := st.Config(m.Config.Digest)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(struct {
				Ref        string           `json:"ref"`
				Descriptor ispec.Descriptor `json:"descriptor"`
				Manifest   *ispec.Manifest  `json:"manifest"`
				Config     *ispec.Image     `json:"config"`
			}{im.Ref, im.Descriptor, m, c})
		},
	}
	addStoreRootFlag(cmd, &root)
	return cmd
}
