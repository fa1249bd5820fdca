package runtime_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestKillAll: SIGTERM with KillAll reaches the children of an init that
// ignores it (pid 1 without a handler), SIGKILL ends everything, and a
// stopped container is an error.
func TestKillAll(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	c, out := create(t, r, id, newBundle(t, []string{"sh", "-c", "sleep 100 & sleep 101 & wait; echo children gone; sleep 102"}, nil))
	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	eventually(t, "init and two sleeps", func() bool {
		pids, err := r.Pids(id)
		return err == nil && len(pids) == 3
	})
	if err := r.KillAll(id, unix.SIGTERM); err != nil {
		t.Fatalf("kill all TERM: %v", err)
	}
	eventually(t, "the children to die", func() bool { return strings.Contains(out.String(), "children gone") })
	wantStatus(t, r, id, specs.StateRunning)
	if err := r.KillAll(id, unix.SIGKILL); err != nil {
		t.Fatalf("kill all KILL: %v", err)
	}
	if code := wait(t, r, c, 10*time.Second); code != 137 {
		t.Errorf("init exit %d, want 137", code)
	}
	if err := r.KillAll(id, unix.SIGKILL); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("kill all of a stopped container: %v, want ErrNotRunning", err)
	}
}
