package runtime_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	"golang.org/x/sys/unix"
)

func TestPids(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	if _, err := r.Pids("nope"); !errors.Is(err, runtime.ErrNotExist) {
		t.Errorf("pids of a missing container: %v, want ErrNotExist", err)
	}
	id := newID(t)
	// init (sh) forks a sleep, so the cgroup holds two processes.
	c, _ := create(t, r, id, newBundle(t, []string{"sh", "-c", "sleep 30 & wait"}, nil))
	pids, err := r.Pids(id)
	if err != nil || !slices.Equal(pids, []int{c.Pid}) {
		t.Fatalf("pids of a created container: %v %v, want [%d]", pids, err, c.Pid)
	}
	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	eventually(t, "the sleep child", func() bool {
		pids, err = r.Pids(id)
		return err == nil && len(pids) == 2
	})
	if !slices.Contains(pids, c.Pid) || !slices.IsSorted(pids) {
		t.Errorf("pids %v, want sorted and holding init %d", pids, c.Pid)
	}
	if err := r.Kill(id, unix.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	wait(t, r, c, 10*time.Second)
	if _, err := r.Pids(id); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("pids of a stopped container: %v, want ErrNotRunning", err)
	}
}
