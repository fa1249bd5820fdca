package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/lamina-dev/lamina/oci/store"
)

// followInterval is how often Logs looks for more output when following.
const followInterval = 100 * time.Millisecond

// Logs copies the log of a container started with RunOptions.Log (found
// by name or store ID) to w. With follow it keeps copying what the
// container writes until the process that waits for it (see waiter.go)
// has let go, that is until the container has exited and its exit is
// recorded, or until ctx ends.
func Logs(ctx context.Context, st *store.Store, nameOrID string, w io.Writer, follow bool) error {
	c, err := Find(st, nameOrID)
	if err != nil {
		return fmt.Errorf("logs %s: %w", nameOrID, err)
	}
	f, err := os.Open(LogPath(st, c))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("logs %s: %w (it was not run with -d)", nameOrID, ErrNoLog)
	}
	if err != nil {
		return fmt.Errorf("logs %s: %w", nameOrID, err)
	}
	defer f.Close()
	t := time.NewTicker(followInterval)
	defer t.Stop()
	for {
		// Probe first, copy second: output written before the waiter let
		// go is then always copied.
		done := !follow || !waiterActive(st, c.ID)
		if _, err := io.Copy(w, f); err != nil {
			return fmt.Errorf("logs %s: %w", nameOrID, err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ErrNoLog is returned by Logs for a container that has no log file.
var ErrNoLog = errors.New("container has no log")
