package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lamina-dev/lamina/engine"
	"github.com/lamina-dev/lamina/oci/store"
)

func init() { register(newMountCmd); register(newUmountCmd) }

func newMountCmd() *cobra.Command {
	var root, upper, driver string
	cmd := &cobra.Command{
		Use:   "mount [flags] REF MNT",
		Short: "Union-mount an image's layers (with a fresh upper unless --upper is given)",
		Example: `  lamina mount busybox /mnt/bb
  lamina mount --upper /srv/up --driver fuse busybox /mnt/bb`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			c, err := engine.Mount(cmd.Context(), st, args[0], engine.MountOptions{Mountpoint: args[1], Upper: upper, Driver: driver})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s mounted on %s (container %s)\n", c.Ref, c.Mountpoint, c.ID)
			return nil
		},
	}
	addStoreRootFlag(cmd, &root)
	cmd.Flags().StringVar(&upper, "upper", "", "writable upper directory (default: a fresh one in the store; its work dir is UPPER.work)")
	cmd.Flags().StringVar(&driver, "driver", "auto", "auto, fuse or overlay")
	return cmd
}

func newUmountCmd() *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:     "umount [flags] MNT",
		Short:   "Unmount an image mounted by lamina mount (a fresh upper is discarded)",
		Example: "  lamina umount /mnt/bb",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			return engine.Unmount(st, args[0])
		},
	}
	addStoreRootFlag(cmd, &root)
	return cmd
}
