package runtime_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestUpdate: a pids limit set by Update on a running container holds for
// what runs in it afterwards, and bad or impossible updates are errors.
func TestUpdate(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, _, spec := startSleeper(t, r, nil)
	fork := process(spec, "sh", "-c", "for i in $(seq 30); do sleep 0.1 & done; echo all-forked; wait")
	if _, out := execOut(t, r, id, fork); !strings.Contains(out, "all-forked") {
		t.Fatalf("before the update, forks failed:\n%s", out)
	}
	limit := int64(16)
	if err := r.Update(id, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &limit}}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if _, out := execOut(t, r, id, fork); strings.Contains(out, "all-forked") || !strings.Contains(out, "can't fork") {
		t.Errorf("after the update to %d pids, forks did not fail:\n%s", limit, out)
	}
	if err := r.Update(id, &specs.LinuxResources{Network: &specs.LinuxNetwork{}}); !errors.Is(err, runtime.ErrUnsupported) {
		t.Errorf("update of an unsupported resource: %v, want ErrUnsupported", err)
	}
	if err := r.Update("no-such-container", &specs.LinuxResources{}); !errors.Is(err, runtime.ErrNotExist) {
		t.Errorf("update of a missing container: %v, want ErrNotExist", err)
	}
}
