// Command benchrt runs lamina's runtime benchmark: create, start, wait and
// delete of a /bin/true container with lamina, runc and crun side by side.
// It needs root. See package bench/rtbench for the method.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/lamina-dev/lamina/bench/rtbench"
	"github.com/spf13/pflag"
)

// inNamespaceEnv marks the re-executed benchrt that runs in its own mount
// namespace; it holds the parent's namespace (see rtbench.HideUnified).
const inNamespaceEnv = "_LAMINA_BENCHRT_NS"

func main() {
	flags := pflag.NewFlagSet("benchrt", pflag.ExitOnError)
	runs := flags.Int("runs", rtbench.DefaultRuns, "timed iterations per runtime")
	warmup := flags.Int("warmup", rtbench.DefaultWarmup, "uncounted iterations per runtime first")
	lamina := flags.String("lamina", rtbench.DefaultLamina, "lamina binary")
	peers := flags.StringSlice("peers", []string{"runc", "crun"}, "other runtimes to compare with (left out when not installed)")
	out := flags.String("out", "bench/results", "directory for runtime.md")
	_ = flags.Parse(os.Args[1:])

	cgroups := "cgroup v1 or v2 host as is; every runtime used its cgroupfs manager"
	if rtbench.IsHybrid() {
		parentNS := os.Getenv(inNamespaceEnv)
		if parentNS == "" {
			os.Exit(reexec())
		}
		var err error
		if cgroups, err = rtbench.HideUnified(parentNS); err != nil {
			fmt.Fprintln(os.Stderr, "benchrt:", err)
			os.Exit(1)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	res, err := rtbench.Run(ctx, rtbench.WithRuns(*runs), rtbench.WithWarmup(*warmup),
		rtbench.WithLamina(*lamina), rtbench.WithPeers(*peers...), rtbench.WithProgress(os.Stderr))
	stop()
	if err == nil {
		res.Cgroups = cgroups
		err = res.WriteText(os.Stdout)
	}
	if err == nil {
		err = rtbench.Save(*out, res)
	}
	if err != nil {
		if errors.Is(err, rtbench.ErrNotRoot) {
			fmt.Fprintln(os.Stderr, "benchrt:", err, "- run it with sudo")
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "benchrt:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "benchrt: wrote %s/runtime.md\n", *out)
}

// reexec runs this program again in a new mount namespace (Go makes its
// mounts private) and returns its exit code.
func reexec() int {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	ns, err := rtbench.MountNamespace()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrt:", err)
		return 1
	}
	cmd.Env = append(os.Environ(), inNamespaceEnv+"="+ns)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	signal.Ignore(os.Interrupt, syscall.SIGTERM) // the child handles them
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "benchrt: re-execute in a mount namespace:", err)
		return 1
	}
	return 0
}
