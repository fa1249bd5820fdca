package main

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci/archive"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/spf13/cobra"
)

func init() { register(newLoadCmd) }

func newLoadCmd() *cobra.Command {
	var root, input, tag, platform string
	cmd := &cobra.Command{
		Use:   "load [flags]",
		Short: "Import images from an OCI layout, an oci-archive or a docker save tarball",
		Long: `Import every image of an archive into the store. The format is found from the
content, not the file name: an OCI image layout directory, an OCI layout packed
as a tar (oci-archive), or a "docker save" tarball (including docker 25+ ones,
which hold an OCI layout); tars may be gzip- or zstd-compressed. Images keep
their names (docker RepoTags; OCI io.containerd.image.name or
org.opencontainers.image.ref.name annotations), normalised as "lamina pull"
does. A ref.name that is a bare tag ("v1", as skopeo oci:DIR:v1 and umoci
write it) names no repository: such an image needs --tag. Every blob digest and layer diff_id is verified. All images are checked
(names, manifests, configs, layer digests) before any is written, so an
archive that is corrupt, truncated, misses a blob or holds a malformed image
stores nothing; only a layer whose content does not match its diff_id is
found while unpacking, and then images loaded before it stay.`,
		Example: `  lamina load -i busybox.tar                  # docker save / oci-archive
  docker save busybox | lamina load           # from standard input
  lamina load -i ./layout --tag demo:v1       # OCI layout with an unnamed image
  umoci init --layout l && umoci new --image l:v1 && lamina load -i l --tag demo:v1
  lamina load -i multi.tar --platform linux/arm64`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			if input == "-" && isTerminal(cmd.InOrStdin()) {
				return fmt.Errorf("load: standard input is a terminal; give -i FILE or pipe an archive in")
			}
			out := cmd.OutOrStdout()
			pr := newProgressSink(out)
			opts := []archive.Option{
				archive.WithStdin(cmd.InOrStdin()),
				archive.WithTag(tag),
				archive.WithProgress(pr.print),
				archive.WithWarn(func(m string) { fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", m) }),
			}
			if platform != "" {
				p, err := v1.ParsePlatform(platform)
				if err != nil {
					return fmt.Errorf("parse --platform: %w", err)
				}
				opts = append(opts, archive.WithPlatform(*p))
			}
			loaded, err := archive.Load(cmd.Context(), st, input, opts...)
			pr.done()
			for _, l := range loaded {
				for _, r := range l.Refs {
					fmt.Fprintf(out, "Loaded image: %s (%s)\n", r, l.Descriptor.Digest)
				}
			}
			return err
		},
	}
	addStoreRootFlag(cmd, &root)
	f := cmd.Flags()
	f.StringVarP(&input, "input", "i", "-", `archive file or layout directory to read ("-": standard input)`)
	f.StringVar(&tag, "tag", "", "name for the image of an archive that holds exactly one image")
	f.StringVar(&platform, "platform", "", "OS/ARCH[/VARIANT] to pick from a multi-platform image (default: this host)")
	return cmd
}
