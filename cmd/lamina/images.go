package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/lamina-dev/lamina/oci/store"
	"github.com/spf13/cobra"
)

func init() { register(newImagesCmd) }

func newImagesCmd() *cobra.Command {
	var root, format string
	cmd := &cobra.Command{
		Use:     "images [flags]",
		Short:   "List the images in the store",
		Example: "  lamina images\n  lamina images --format json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			imgs, err := st.Images()
			if err != nil {
				return err
			}
			type row struct {
				Ref    string `json:"ref"`
				Digest string `json:"digest"`
				Size   int64  `json:"size"` // sum of the compressed layers
			}
			rows := []row{}
			for _, im := range imgs {
				r := row{Ref: im.Ref, Digest: im.Descriptor.Digest.String()}
				if m, err := st.Manifest(im.Descriptor.Digest); err == nil {
					for _, l := range m.Layers {
						r.Size += l.Size
					}
				}
				rows = append(rows, r)
			}
			switch format {
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			case "", "table":
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "REF\tDIGEST\tSIZE")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%s\t%d\n", r.Ref, r.Digest[:19], r.Size)
				}
				return tw.Flush()
			}
			return fmt.Errorf("unknown --format %q (table or json)", format)
		},
	}
	addStoreRootFlag(cmd, &root)
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	return cmd
}
