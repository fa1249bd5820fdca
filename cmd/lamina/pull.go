package main

import (
	"fmt"
	"io"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci"
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
		Example: `  lamina pull busybox
  lamina pull --platform linux/arm64 docker.io/library/alpine:3.20
  lamina pull --insecure --creds user:pass registry.lan:5000/app:v1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			pr := &progressPrinter{w: out}
			opts := []pull.Option{
				pull.WithInsecure(insecure),
				pull.WithProgress(pr.print),
				pull.WithWarn(func(m string) { fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", m) }),
			}
			if platform != "" {
				p, err := v1.ParsePlatform(platform)
				if err != nil {
					return fmt.Errorf("parse platform: %w", err)
				}
				opts = append(opts, pull.WithPlatform(*p))
			}
			if creds != "" {
				u, p, ok := strings.Cut(creds, ":")
				if !ok {
					return fmt.Errorf("parse --creds: want USER:PASS")
				}
				opts = append(opts, pull.WithBasicAuth(u, p))
			}
			res, err := pull.Image(cmd.Context(), st, args[0], opts...)
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

// progressPrinter prints one line per layer event: "<short digest>: <status>
// [bytes]". Download progress is printed at most once per 10% of a layer.
type progressPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	last map[string]int64
}

func (p *progressPrinter) print(ev oci.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	short := strings.TrimPrefix(ev.Digest, "sha256:")
	if len(short) > 12 {
		short = short[:12]
	}
	if p.last == nil {
		p.last = map[string]int64{}
	}
	switch ev.Status {
	case oci.StatusDownloading:
		step := ev.Total / 10
		if ev.Current != 0 && ev.Current-p.last[ev.Digest] < step {
			return
		}
		p.last[ev.Digest] = ev.Current
		fmt.Fprintf(p.w, "%s: downloading %d/%d bytes\n", short, ev.Current, ev.Total)
	default:
		fmt.Fprintf(p.w, "%s: %s\n", short, ev.Status)
	}
}
