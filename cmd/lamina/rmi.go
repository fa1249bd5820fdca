package main

import (
	"fmt"

	"github.com/lamina-dev/lamina/oci/store"
	"github.com/spf13/cobra"
)

func init() { register(newRmiCmd) }

func newRmiCmd() *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:     "rmi [flags] REF...",
		Short:   "Remove images and garbage-collect unused blobs and layers",
		Example: "  lamina rmi busybox",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			for _, ref := range args {
				im, err := st.Resolve(ref)
				if err != nil {
					return err
				}
				if err := st.Untag(im.Ref); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Untagged: %s\n", im.Ref)
			}
			gs, err := st.GC()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Deleted %d blobs (%d bytes) and %d layers\n", gs.Blobs, gs.Bytes, gs.Layers)
			return nil
		},
	}
	addStoreRootFlag(cmd, &root)
	return cmd
}
