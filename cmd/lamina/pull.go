package main

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci/pull"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/spf13/cobra"
)

func init() { register(newPullCmd) }

func newPullCmd() *cobra.Command {
	var root, platform, creds string
	var insecure bool
	cmd := &cobra.Command{
		Use:   "pull [flags] REF",
		Short: "Pull an image from a registry into the store",
		Long: `Pull an image from a registry into the store: manifest, config and every
layer, each verified (blob digest, diff_id) and unpacked before anything is
visible. Layers already in the store say "already exists".

Credentials: --creds USER:PASS, else $DOCKER_CONFIG/config.json (default
~/.docker/config.json, credential helpers included), else anonymous; bearer
tokens are fetched and renewed when they expire. Plain HTTP is used only for
localhost, 127.0.0.0/8 and ::1, unless --insecure.

Network failures and 429/5xx answers are retried 5 times in all with
exponential backoff; a broken download resumes where it stopped. On a
terminal, progress is one line per layer redrawn in place; otherwise one
line per event.`,
		Example: `  lamina pull busybox
  lamina pull --platform linux/arm64 docker.io/library/alpine:3.20
  lamina pull --insecure --creds user:pass registry.lan:5000/app:v1
  DOCKER_CONFIG=$PWD/ci-auth lamina pull registry.example.com/team/app:v2
  lamina pull 127.0.0.1:5000/demo/app:v1 | cat    # plain progress lines`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts []pull.Option
			if creds != "" {
				u, p, err := parseCreds(creds)
				if err != nil {
					return err
				}
				opts = append(opts, pull.WithBasicAuth(u, p))
			}
			if platform != "" {
				p, err := v1.ParsePlatform(platform)
				if err != nil {
					return fmt.Errorf("parse --platform: %w", err)
				}
				opts = append(opts, pull.WithPlatform(*p))
			}
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			pr := newProgressSink(out)
			opts = append(opts,
				pull.WithInsecure(insecure),
				pull.WithProgress(pr.print),
				pull.WithWarn(func(m string) { fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", m) }),
			)
			res, err := pull.Image(cmd.Context(), st, args[0], opts...)
			pr.done()
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "Digest: %s\n%s\n", res.Descriptor.Digest, res.Ref)
			return nil
		},
	}
	addStoreRootFlag(cmd, &root)
	f := cmd.Flags()
	f.StringVar(&platform, "platform", "", "OS/ARCH[/VARIANT] to pick from a multi-platform image (default: this host)")
	f.BoolVar(&insecure, "insecure", false, "allow plain HTTP to any registry (always allowed for loopback)")
	f.StringVar(&creds, "creds", "", "USER:PASS for the registry (default: ~/.docker/config.json)")
	return cmd
}

// parseCreds splits --creds USER:PASS. The password may hold colons; the
// value is never echoed back (it holds a secret).
func parseCreds(s string) (user, pass string, err error) {
	user, pass, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		return "", "", fmt.Errorf("parse --creds: want USER:PASS, got no colon")
	case user == "":
		return "", "", fmt.Errorf("parse --creds: want USER:PASS, got an empty user")
	case pass == "":
		return "", "", fmt.Errorf("parse --creds: want USER:PASS, got an empty password")
	}
	return user, pass, nil
}
