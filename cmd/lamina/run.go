package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func init() { register(newRunCmd) }

func newRunCmd() *cobra.Command {
	var f createFlags
	var img imageRunFlags
	var detach, keep bool
	c := runtimeCmd(&cobra.Command{
		Use:   "run [flags] ID | run [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Run a container from a bundle (as runc) or from an image (as docker)",
		Long: `run has two forms.

As runc's run (when --bundle is given, or with one argument and a
config.json in the current directory): create and start container ID from
a bundle, forward the signals lamina receives to its init, wait for it to
exit, delete it, and exit with its exit code (128+N when killed by signal
N). With "terminal": true in config.json the container gets its own pty
and lamina relays it to its own stdio, as runc does: the pty follows the
window size of lamina's terminal, and lamina's stdin, when it is a
terminal, is put in raw mode until the container exits. --detach with a
terminal needs --console-socket (see "lamina create --help").

As docker's run: pull IMAGE if the store lacks it, union-mount it with a
fresh writable layer, build a bundle from the image's config and the IMAGE
flags below, and run COMMAND (default: the image's entrypoint and cmd).
The container's writable layer persists after it exits, unless --rm.
-i connects lamina's stdin to the container; -t gives the container a
terminal relayed to lamina's (use -it for an interactive shell).
Flags after IMAGE belong to COMMAND.`,
		Example: `  lamina run --bundle ./bundle ctr
  lamina run --rm 127.0.0.1:5000/lamina/demo:latest
  lamina run --rm --memory 64m --pids-limit 50 -e GREETING=hi alpine sh -c 'echo $GREETING'
  lamina run --rm -it alpine sh`,
		Args: cobra.MinimumNArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		if !isBundleRun(cmd.Flags(), args) {
			if f.consoleSocket != "" {
				return errors.New("--console-socket: only for a bundle run; use -t for a terminal with IMAGE")
			}
			return runImage(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), rt, &img, detach, args)
		}
		if len(args) != 1 {
			return fmt.Errorf("run: a bundle run takes one container ID, got %d arguments", len(args))
		}
		id := args[0]
		opts, err := f.options()
		if err != nil {
			return err
		}
		// In the foreground a terminal is relayed by lamina itself, as
		// runc does; only a detached run hands it to a console socket.
		var tty *foregroundTTY
		if f.consoleSocket != "" && !detach {
			return errors.New("--console-socket: only with --detach; in the foreground lamina relays the terminal itself")
		}
		if spec, err := runtime.LoadBundle(f.bundle); err == nil && spec.Process != nil && spec.Process.Terminal && !detach {
			if tty, err = newForegroundTTY(); err != nil {
				return err
			}
			defer tty.close()
			opts = append(opts, tty.option())
		}
		// Catch signals before the container exists, so none is lost.
		sigs := make(chan os.Signal, 32)
		signal.Notify(sigs)
		defer signal.Stop(sigs)

		warnUnapplied(f.bundle)
		ctr, err := rt.Create(cmd.Context(), id, f.bundle, opts...)
		if err != nil {
			return consoleHint(err)
		}
		del := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			// ErrNotExist: a failing startContainer hook makes Start
			// remove the container itself.
			if err := rt.Delete(ctx, id, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
				slog.Error("delete after run", "id", id, "err", err)
			}
		}
		stopTTY := func() {}
		if tty != nil {
			if stopTTY, err = tty.relay(cmd.Context(), true); err != nil {
				del()
				return err
			}
		}
		if err := rt.Start(id); err != nil {
			stopTTY()
			del()
			return err
		}
		if detach {
			return nil
		}
		code, werr := waitForwarding(sigs, ctr.Wait, func(sig unix.Signal) error { return rt.Kill(id, sig) })
		stopTTY()
		if !keep {
			del()
		}
		if werr != nil {
			return werr
		}
		if code != 0 {
			return &exitError{code: code}
		}
		return nil
	})
	f.add(c.Flags())
	img.add(c.Flags())
	c.Flags().SetInterspersed(false) // flags after IMAGE belong to its command
	c.Flags().BoolVarP(&detach, "detach", "d", false, "return after start, leaving the container running")
	c.Flags().BoolVar(&keep, "keep", false, "keep the container's state after it exits")
	return c
}

// waitForwarding waits for a container's process and forwards the signals
// lamina receives to it (all but those the Go runtime and the wait itself
// cause, and SIGWINCH). It returns wait's result.
func waitForwarding(sigs <-chan os.Signal, wait func() (int, error), kill func(unix.Signal) error) (int, error) {
	done := make(chan struct{})
	var code int
	var werr error
	go func() { code, werr = wait(); close(done) }()
	for {
		select {
		case s := <-sigs:
			sig := s.(unix.Signal)
			// SIGWINCH is the caller's window changing: a relayed terminal
			// follows it (RelayConsole), and runc never forwards it.
			if sig == unix.SIGCHLD || sig == unix.SIGURG || sig == unix.SIGPIPE || sig == unix.SIGWINCH {
				continue
			}
			if err := kill(sig); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
				slog.Warn("forward signal", "signal", sig, "err", err)
			}
		case <-done:
			return code, werr
		}
	}
}
