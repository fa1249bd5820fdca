// Command benchfs runs lamina's filesystem benchmark: workloads on ext4,
// kernel overlayfs, lamina FUSE (with and without passthrough),
// fuse-overlayfs and unionfs-fuse, side by side. It needs root.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/lamina-dev/lamina/bench"
	"github.com/spf13/pflag"
)

func main() {
	flags := pflag.NewFlagSet("benchfs", pflag.ExitOnError)
	runs := flags.Int("runs", bench.DefaultRuns, "timed runs per cell (the cell is their median)")
	unionmount := flags.String("unionmount", bench.DefaultUnionmount, "lamina's unionmount binary")
	out := flags.String("out", "bench/results", "directory for fs.md and fs.svg")
	cache := flags.String("cache", bench.DefaultCache, "where the debootstrap tree is kept between runs")
	scratch := flags.String("scratch", bench.DefaultScratch, "scratch directory on the disk to measure (wiped)")
	mirror := flags.String("mirror", "", "Debian mirror for debootstrap (default: apt's)")
	tree := flags.String("tree", "debootstrap", "tree to use: debootstrap or busybox")
	configs := flags.StringSlice("configs", nil, "configurations to run (default all): ext4,kernel-overlay,lamina-fuse,lamina-passthrough,fuse-overlayfs,unionfs-fuse")
	workloads := flags.StringSlice("workloads", nil, "workloads to run (default all): "+strings.Join(bench.WorkloadNames, ","))
	bigMiB := flags.Int64("big-mib", bench.DefaultBigSize>>20, "size of the large file in MiB")
	keep := flags.Bool("keep", false, "keep the scratch directory")
	_ = flags.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := bench.Run(ctx,
		bench.WithRuns(*runs), bench.WithUnionmount(*unionmount), bench.WithCache(*cache),
		bench.WithScratch(*scratch), bench.WithMirror(*mirror), bench.WithTree(*tree),
		bench.WithConfigs(*configs...), bench.WithWorkloads(*workloads...),
		bench.WithBigSize(*bigMiB<<20), bench.WithKeep(*keep), bench.WithProgress(os.Stderr))
	stop()
	if err == nil {
		err = res.WriteText(os.Stdout)
	}
	if err == nil {
		err = bench.Save(*out, res)
	}
	if err != nil {
		if errors.Is(err, bench.ErrNotRoot) {
			fmt.Fprintln(os.Stderr, "benchfs:", err, "- run it with sudo")
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "benchfs:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "benchfs: wrote %s/fs.md and %s/fs.svg\n", *out, *out)
}
