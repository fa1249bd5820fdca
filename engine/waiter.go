package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/lamina-dev/lamina/oci/store"
	"golang.org/x/sys/unix"
)

// The waiter lock: the process that waits for a container made by Start
// (lamina run in the foreground, or the supervisor of lamina run -d) holds
// an exclusive flock on the container's store directory, containers/<id>/,
// from before the runtime container is created until the exit status is
// recorded and the union is unmounted. The kernel drops it when that
// process dies, however it dies. Others probe it without blocking.

// lockWaiter takes the waiter lock of container id.
func lockWaiter(st *store.Store, id string) (*os.File, error) {
	f, err := os.OpenFile(st.ContainerDir(id), os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock container: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock container: %w", err)
	}
	return f, nil
}

// waiterActive reports whether a process holds the waiter lock of
// container id (false when the directory is gone).
func waiterActive(st *store.Store, id string) bool {
	f, err := os.OpenFile(st.ContainerDir(id), os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return errors.Is(unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB), unix.EWOULDBLOCK)
}

// pollInterval is how often the waits below look again.
const pollInterval = 20 * time.Millisecond

// waitUntil calls done every pollInterval until it reports true or ctx
// ends (then it returns ctx's error).
func waitUntil(ctx context.Context, done func() bool) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for !done() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
