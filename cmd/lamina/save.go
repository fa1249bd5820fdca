package main

import (
	"fmt"

	"github.com/lamina-dev/lamina/oci/archive"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/spf13/cobra"
)

func init() { register(newSaveCmd) }

func newSaveCmd() *cobra.Command {
	var root, output, format string
	cmd := &cobra.Command{
		Use:   "save [flags] REF... -o PATH",
		Short: "Export images to an OCI layout, an oci-archive or a docker save tarball",
		Long: `Write images of the store to PATH, which must not exist. --format oci (the
default) writes an OCI image layout directory; oci-archive the same as a tar;
docker-archive a "docker save" tarball with uncompressed layers. In OCI output
each image's org.opencontainers.image.ref.name is its full ref, as
"lamina images" shows it. With -o - an archive format goes to standard output.`,
		Example: `  lamina save busybox -o ./busybox-layout
  skopeo inspect oci:./busybox-layout:index.docker.io/library/busybox:latest
  lamina save busybox alpine --format oci-archive -o images.tar
  lamina save busybox --format docker-archive -o - | docker load`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output == "" {
				return fmt.Errorf("save: -o/--output is required")
			}
			f, err := archive.ParseFormat(format)
			if err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			if output == "-" && isTerminal(cmd.OutOrStdout()) {
				return fmt.Errorf("save: standard output is a terminal; give -o PATH or redirect it")
			}
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			return archive.Save(cmd.Context(), st, args, f, output, archive.WithStdout(cmd.OutOrStdout()))
		},
	}
	addStoreRootFlag(cmd, &root)
	fl := cmd.Flags()
	fl.StringVarP(&output, "output", "o", "", `directory or file to write ("-": standard output, archive formats only)`)
	fl.StringVar(&format, "format", string(archive.FormatOCI), "oci, oci-archive or docker-archive")
	return cmd
}
