package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func init() { register(newKillCmd) }

func newKillCmd() *cobra.Command {
	return runtimeCmd(&cobra.Command{
		Use:     "kill ID [SIGNAL]",
		Short:   "Send a signal (default SIGTERM) to a container's init",
		Example: "  lamina kill ctr\n  lamina kill ctr KILL\n  lamina kill ctr 9",
		Args:    cobra.RangeArgs(1, 2),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		sig := unix.SIGTERM
		if len(args) == 2 {
			var err error
			if sig, err = parseSignal(args[1]); err != nil {
				return err
			}
		}
		return rt.Kill(args[0], sig)
	})
}

// parseSignal accepts "KILL", "SIGKILL", "kill" or "9".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal %q", s)
}
