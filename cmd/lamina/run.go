package main

import (
	"context"
	"errors"
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
	var detach, keep bool
	c := runtimeCmd(&cobra.Command{
		Use:   "run [flags] ID",
		Short: "Create and start a container, wait for it and delete it",
		Long: `run creates and starts a container from a bundle (like create plus start),
forwards the signals it receives to the container's init, waits for it to
exit, deletes it and exits with the container's exit code (128+N when it
was killed by signal N).`,
		Example: "  lamina run --bundle ./bundle ctr\n  lamina run -d --bundle ./bundle ctr",
		Args:    cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		id := args[0]
		opts, err := f.options()
		if err != nil {
			return err
		}
		// Catch signals before the container exists, so none is lost.
		sigs := make(chan os.Signal, 32)
		signal.Notify(sigs)
		defer signal.Stop(sigs)

		ctr, err := rt.Create(cmd.Context(), id, f.bundle, opts...)
		if err != nil {
			return err
		}
		del := func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := rt.Delete(ctx, id, true); err != nil {
				slog.Error("delete after run", "id", id, "err", err)
			}
		}
		if err := rt.Start(id); err != nil {
			del()
			return err
		}
		if detach {
			return nil
		}
		done := make(chan struct{})
		var code int
		var werr error
		go func() { code, werr = ctr.Wait(); close(done) }()
	loop:
		for {
			select {
			case s := <-sigs:
				sig := s.(unix.Signal)
				if sig == unix.SIGCHLD || sig == unix.SIGURG || sig == unix.SIGPIPE {
					continue
				}
				if err := rt.Kill(id, sig); err != nil && !errors.Is(err, runtime.ErrNotRunning) {
					slog.Warn("forward signal", "signal", sig, "err", err)
				}
			case <-done:
				break loop
			}
		}
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
	c.Flags().BoolVarP(&detach, "detach", "d", false, "return after start, leaving the container running")
	c.Flags().BoolVar(&keep, "keep", false, "keep the container's state after it exits")
	return c
}
