package main

import (
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/spf13/cobra"
)

// addStoreRootFlag adds --root (the image store) to an image command.
func addStoreRootFlag(cmd *cobra.Command, root *string) {
	cmd.Flags().StringVar(root, "root", store.DefaultRoot(), "image store directory")
}
