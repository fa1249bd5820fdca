package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// killGrace bounds the wait after SIGKILL in Stop.
const killGrace = 10 * time.Second

// Stop stops a container made by Start, found by name or store ID: it
// sends the image's StopSignal (default SIGTERM), waits up to timeout for
// the container to exit, then sends SIGKILL. It returns once the process
// that waits for the container (lamina run, or the supervisor of
// lamina run -d) has recorded the exit and unmounted the union, so List
// shows the exit status. Stopping a stopped container does nothing.
func Stop(ctx context.Context, st *store.Store, rt *runtime.Runtime, nameOrID string, timeout time.Duration) error {
	c, err := Find(st, nameOrID)
	if err != nil {
		return fmt.Errorf("stop %s: %w", nameOrID, err)
	}
	if c.Name == "" {
		return fmt.Errorf("stop %s: %w (a union mount, not a container made by lamina run)", nameOrID, ErrNoContainer)
	}
	sig, err := stopSignal(st, c)
	if err != nil {
		return fmt.Errorf("stop %s: %w", nameOrID, err)
	}
	stopped := func() bool {
		s, err := rt.State(c.Name)
		return (err != nil || s.Status == specs.StateStopped) && !waiterActive(st, c.ID)
	}
	if err := kill(rt, c.Name, sig); err != nil {
		return fmt.Errorf("stop %s: %w", nameOrID, err)
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	err = waitUntil(tctx, stopped)
	cancel()
	if err == nil || ctx.Err() != nil {
		return err
	}
	if err := kill(rt, c.Name, unix.SIGKILL); err != nil {
		return fmt.Errorf("stop %s: %w", nameOrID, err)
	}
	kctx, cancel := context.WithTimeout(ctx, killGrace)
	defer cancel()
	if err := waitUntil(kctx, stopped); err != nil {
		return fmt.Errorf("stop %s: still running %v after SIGKILL: %w", nameOrID, killGrace, err)
	}
	return nil
}

// kill signals container name; one that is gone or stopped is no error.
func kill(rt *runtime.Runtime, name string, sig unix.Signal) error {
	err := rt.Kill(name, sig)
	if errors.Is(err, runtime.ErrNotRunning) || errors.Is(err, runtime.ErrNotExist) {
		return nil
	}
	return err
}

// stopSignal is the StopSignal of c's image config, default SIGTERM.
func stopSignal(st *store.Store, c *store.Container) (unix.Signal, error) {
	img, err := imageConfig(st, c)
	if err != nil {
		return 0, err
	}
	if img.Config.StopSignal == "" {
		return unix.SIGTERM, nil
	}
	sig, err := runtime.ParseSignal(img.Config.StopSignal)
	if err != nil {
		return 0, fmt.Errorf("image config StopSignal: %w", err)
	}
	return sig, nil
}
