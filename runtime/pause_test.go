package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestPauseResume pauses and resumes a running container (what
// containerd's "ctr task pause" asks through runc's command line), and
// checks the wrong-state errors and that a paused container is deleted
// promptly with force.
func TestPauseResume(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, c, spec := startSleeper(t, r, nil)
	if err := r.Resume(id); !errors.Is(err, runtime.ErrNotPaused) {
		t.Errorf("resume of a running container: %v, want ErrNotPaused", err)
	}
	if err := r.Pause(id); err != nil {
		t.Fatalf("pause: %v", err)
	}
	wantStatus(t, r, id, runtime.StatePaused)
	if err := r.Pause(id); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("pause of a paused container: %v, want ErrNotRunning", err)
	}
	if err := r.Delete(context.Background(), id, false); !errors.Is(err, runtime.ErrRunning) {
		t.Errorf("delete of a paused container without force: %v, want ErrRunning", err)
	}
	if err := r.Resume(id); err != nil {
		t.Fatalf("resume: %v", err)
	}
	wantStatus(t, r, id, specs.StateRunning)
	p := *spec.Process
	p.Args = []string{"echo", "thawed"}
	if code, out := execOut(t, r, id, &p); code != 0 || out != "thawed\n" {
		t.Errorf("exec after resume: %d %q", code, out)
	}
	if err := r.Pause(id); err != nil {
		t.Fatalf("pause again: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.Delete(ctx, id, true); err != nil {
		t.Fatalf("delete --force of a paused container: %v", err)
	}
	// killAndWait gives up after 10s: a frozen init never dies unthawed.
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("delete of a paused container took %v: init was not thawed", d)
	}
	if code, err := c.Wait(); err != nil || code != 137 {
		t.Errorf("init exit: %d %v, want 137 (SIGKILL)", code, err)
	}
}

func TestPauseCreated(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	c, _ := create(t, r, id, newBundle(t, []string{"true"}, nil))
	go c.Wait()
	if err := r.Pause(id); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("pause of a created container: %v, want ErrNotRunning", err)
	}
	if err := r.Pause("nope"); !errors.Is(err, runtime.ErrNotExist) {
		t.Errorf("pause of a missing container: %v, want ErrNotExist", err)
	}
}

// TestKillPaused: SIGKILL to a paused container thaws it, so init dies
// (containerd's "ctr task kill -s KILL" of a paused task, as with runc).
func TestKillPaused(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, c, _ := startSleeper(t, r, nil)
	if err := r.Pause(id); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if err := r.Kill(id, unix.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if code := wait(t, r, c, 10*time.Second); code != 137 {
		t.Errorf("init exit %d, want 137", code)
	}
	wantStatus(t, r, id, specs.StateStopped)
}
