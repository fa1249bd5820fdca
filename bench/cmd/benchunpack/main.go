// Command benchunpack times lamina's layer unpacking against umoci unpack on
// the same image and writes unpack.md. See package bench/unpack.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/lamina-dev/lamina/bench/unpack"
	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchunpack:", err)
		os.Exit(1)
	}
}

func newCmd() *cobra.Command {
	var out, scratch, tree, profile string
	var runs int
	cmd := &cobra.Command{
		Use:   "benchunpack [flags]",
		Short: "Time lamina's layer unpack against umoci unpack on the same image",
		Example: `  sudo go run ./bench/cmd/benchunpack --out bench/results
  sudo go run ./bench/cmd/benchunpack --tree generated --runs 3 --out /tmp`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := []unpack.Option{unpack.WithRuns(runs), unpack.WithScratch(scratch),
				unpack.WithTree(tree), unpack.WithProgress(cmd.ErrOrStderr())}
			if profile != "" {
				pf, err := os.Create(profile)
				if err != nil {
					return err
				}
				defer pf.Close()
				opts = append(opts, unpack.WithCPUProfile(pf))
			}
			res, err := unpack.Run(cmd.Context(), opts...)
			if err != nil {
				return err
			}
			if err := res.WriteMarkdown(cmd.OutOrStdout()); err != nil {
				return err
			}
			f, err := os.Create(filepath.Join(out, "unpack.md"))
			if err != nil {
				return err
			}
			if err := res.WriteMarkdown(f); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "bench/results", "directory for unpack.md")
	f.StringVar(&scratch, "scratch", unpack.DefaultScratch, "work directory (emptied first, removed after)")
	f.StringVar(&tree, "tree", "debootstrap", "debootstrap (cached Debian rootfs; falls back to generated) or generated")
	f.StringVar(&profile, "cpuprofile", "", "write a pprof CPU profile of lamina's timed rounds to this file")
	f.IntVar(&runs, "runs", unpack.DefaultRuns, "timed rounds; each contender's result is the median")
	return cmd
}
