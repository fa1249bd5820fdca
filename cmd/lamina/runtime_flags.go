package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runtimeFlags are runc's global flags. They are added to every OCI
// runtime subcommand; root.go may also add them as persistent flags
// (addRuntimeFlags(root.PersistentFlags())) so that callers can put them
// before the subcommand, as containerd does. Both can coexist: a local
// flag shadows the persistent one of the same name.
var runtimeFlags struct {
	root          string
	log           string
	logFormat     string
	debug         bool
	systemdCgroup bool
}

func addRuntimeFlags(fs *pflag.FlagSet) {
	if fs.Lookup("root") != nil {
		return
	}
	fs.StringVar(&runtimeFlags.root, "root", "", "directory for container state (default /run/lamina, or $XDG_RUNTIME_DIR/lamina rootless)")
	fs.StringVar(&runtimeFlags.log, "log", "", "write log messages to this file (default stderr)")
	fs.StringVar(&runtimeFlags.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&runtimeFlags.debug, "debug", false, "log debug messages")
	fs.BoolVar(&runtimeFlags.systemdCgroup, "systemd-cgroup", false, "manage cgroups through systemd (not supported yet)")
}

// runtimeCmd wraps the RunE of an OCI runtime subcommand: it adds the
// global flags, sets up logging, opens the runtime and logs a failure at
// level error (the last such line is what containerd's shim reports).
func runtimeCmd(c *cobra.Command, run func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error) *cobra.Command {
	addRuntimeFlags(c.Flags())
	c.RunE = func(cmd *cobra.Command, args []string) error {
		closeLog, err := setupLogging()
		if err != nil {
			return err
		}
		defer closeLog()
		err = func() error {
			if runtimeFlags.systemdCgroup {
				return fmt.Errorf("--systemd-cgroup: %w", runtime.ErrUnsupported)
			}
			// Failing poststop hooks do not fail the command;
			// the runtime hands them over as warnings.
			rt, err := runtime.New(runtimeFlags.root, runtime.WithWarnFunc(func(err error) { slog.Warn(err.Error()) }))
			if err != nil {
				return err
			}
			slog.Debug("run", "command", cmd.Name(), "args", args, "root", rt.Root())
			return run(cmd, rt, args)
		}()
		// On stderr in text, execute prints the error itself; a log file
		// or JSON lines (containerd's shim reads the last one) get it here.
		if err != nil && (runtimeFlags.log != "" || runtimeFlags.logFormat == "json") {
			var ee *exitError
			if !asExitError(err, &ee) || ee.err != nil {
				slog.Error(err.Error())
			}
		}
		return err
	}
	return c
}

func asExitError(err error, target **exitError) bool {
	e, ok := err.(*exitError)
	if ok {
		*target = e
	}
	return ok
}

// setupLogging points the default slog logger at --log (appending) in the
// --log-format. JSON lines carry "level" in lower case ("error"), as
// containerd's go-runc expects, and "msg" and "time".
func setupLogging() (func(), error) {
	var w io.Writer = os.Stderr
	closeFn := func() {}
	if runtimeFlags.log != "" {
		f, err := os.OpenFile(runtimeFlags.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("open log: %w", err)
		}
		w, closeFn = f, func() { f.Close() }
	}
	level := slog.LevelWarn
	if runtimeFlags.debug {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey && len(groups) == 0 {
				return slog.String(slog.LevelKey, strings.ToLower(a.Value.String()))
			}
			return a
		},
	}
	var h slog.Handler
	switch runtimeFlags.logFormat {
	case "json":
		h = slog.NewJSONHandler(w, opts)
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	default:
		closeFn()
		return nil, fmt.Errorf("--log-format: unknown format %q (want text or json)", runtimeFlags.logFormat)
	}
	slog.SetDefault(slog.New(h))
	return closeFn, nil
}

// warnUnapplied logs the config fields lamina accepts but does not apply
// yet (see the runtime package doc), so that accepting them is never
// silent. Errors are left to Create, which reports them properly.
func warnUnapplied(bundle string) {
	spec, err := runtime.LoadBundle(bundle)
	if err != nil || spec.Process == nil && spec.Linux == nil {
		return
	}
	if spec.Process != nil && spec.Process.ApparmorProfile != "" {
		slog.Warn("process.apparmorProfile is not applied: lamina does not support AppArmor yet", "profile", spec.Process.ApparmorProfile)
	}
	if spec.Process != nil && spec.Process.SelinuxLabel != "" {
		slog.Warn("process.selinuxLabel is not applied: lamina does not support SELinux yet", "label", spec.Process.SelinuxLabel)
	}
	if spec.Linux != nil && spec.Linux.MountLabel != "" {
		slog.Warn("linux.mountLabel is not applied: lamina does not support SELinux yet", "label", spec.Linux.MountLabel)
	}
	if spec.Linux == nil || spec.Linux.Resources == nil {
		return
	}
	// linux.resources.devices is not warned about: every config has
	// rules (lamina spec's deny-all too); runtime/doc.go lists the gap.
	if m := spec.Linux.Resources.Memory; m != nil && (m.Kernel != nil || m.KernelTCP != nil) {
		slog.Warn("linux.resources.memory.kernel and kernelTCP are not applied (deprecated in runtime-spec; recent kernels have no such limits)")
	}
}
