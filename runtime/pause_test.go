package runtime_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// procState is the state letter of /proc/PID/stat.
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+2:])[0]
}

// TestPauseResume: pause freezes the container (state "paused", exec
// refused, a second pause refused, SIGKILL held until resume), resume
// thaws it, and a paused container can be deleted with force.
func TestPauseResume(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, c, spec := startSleeper(t, r, nil)
	status := func() specs.ContainerState {
		st, err := r.State(id)
		if err != nil {
			t.Fatal(err)
		}
		return st.Status
	}
	if err := r.Pause(id); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if got := status(); got != runtime.StatePaused {
		t.Fatalf("status after pause %q, want paused", got)
	}
	if err := r.Pause(id); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("second pause: %v, want ErrNotRunning", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.Exec(ctx, id, process(spec, "true")); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("exec into a paused container: %v, want ErrNotRunning", err)
	}
	if err := r.Delete(ctx, id, false); !errors.Is(err, runtime.ErrRunning) {
		t.Errorf("delete of a paused container without force: %v, want ErrRunning", err)
	}
	if err := r.Resume(id); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if got := status(); got != specs.StateRunning {
		t.Fatalf("status after resume %q, want running", got)
	}
	if err := r.Resume(id); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("resume of a running container: %v, want ErrNotRunning", err)
	}
	// Frozen for real: SIGKILL takes effect only once thawed.
	if err := r.Pause(id); err != nil {
		t.Fatalf("pause again: %v", err)
	}
	if err := r.Kill(id, unix.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if got := status(); got != runtime.StatePaused || procState(t, c.Pid) == "Z" {
		t.Fatalf("a frozen init died of SIGKILL: status %q", got)
	}
	if err := r.Resume(id); err != nil {
		t.Fatalf("resume: %v", err)
	}
	eventually(t, "the thawed init to die", func() bool { return status() == specs.StateStopped })

	id, _, _ = startSleeper(t, r, nil)
	if err := r.Pause(id); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if err := r.Delete(ctx, id, true); err != nil {
		t.Fatalf("delete --force of a paused container: %v", err)
	}
	if _, err := r.State(id); !errors.Is(err, runtime.ErrNotExist) {
		t.Errorf("state after delete: %v, want ErrNotExist", err)
	}
}
