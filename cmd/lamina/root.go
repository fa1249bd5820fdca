package main

import (
	"context"
	"fmt"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// commands holds the constructors of every subcommand. Each subcommand
// lives in its own file and adds itself here from an init function, so
// files never have to edit each other.
var commands []func() *cobra.Command

func register(c func() *cobra.Command) { commands = append(commands, c) }

// exitError carries an exit status other than 1 (for example the exit code
// of a container for "lamina run").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "lamina",
		Short: "Run containers from layered images",
		Long: `lamina runs containers from layered images. It is an OCI runtime with
runc's command line (create, start, state, kill, delete, run, exec, ...), so
container engines can call it in runc's place, and it pulls, stores and
union-mounts images.`,
		Version:       versionText(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// runc's global flags (--root, --log, --log-format, --debug,
	// --systemd-cgroup) come before the subcommand when containerd or
	// podman call lamina as their OCI runtime.
	addRuntimeFlags(root.PersistentFlags())
	for _, c := range commands {
		root.AddCommand(c())
	}
	// runc's layout: the version, then commit, spec and go lines.
	root.SetVersionTemplate("{{.Name}} version {{.Version}}\n")
	return root
}

// versionText is the version with the lines runc prints after it: the
// commit (from the build's VCS stamp), the runtime-spec version and Go's.
func versionText() string {
	commit := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	return fmt.Sprintf("%s\ncommit: %s\nspec: %s\ngo: %s", version, commit, specs.Version, goruntime.Version())
}

func execute(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		code := 1
		if e, ok := err.(*exitError); ok {
			code = e.code
			if e.err == nil {
				return code
			}
		}
		fmt.Fprintf(os.Stderr, "lamina: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		return code
	}
	return 0
}
