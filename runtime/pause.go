package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// StatePaused is the status of a container whose cgroup is frozen. It is
// not one of runtime-spec's four (the spec allows more); runc reports the
// same "paused".
const StatePaused specs.ContainerState = "paused"

// Pause freezes every process of running container id through its
// cgroup (the v1 freezer controller, or cgroup.freeze on v2); its status
// then reads "paused" until Resume. It returns ErrNotRunning when the
// container is not running, and ErrNoCgroup when it has no cgroup to
// freeze (rootless without a delegated one).
func (r *Runtime) Pause(id string) error {
	return r.setFrozen(id, specs.StateRunning, cgroups.Frozen)
}

// Resume thaws paused container id. It returns ErrNotPaused when the
// container is not paused.
func (r *Runtime) Resume(id string) error {
	return r.setFrozen(id, StatePaused, cgroups.Thawed)
}

func (r *Runtime) setFrozen(id string, want specs.ContainerState, to cgroups.FreezerState) error {
	l, rec, err := r.lock(id, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	if st := rec.status(l.path); st != want {
		if want == StatePaused {
			return fmt.Errorf("%w: %s is %s", ErrNotPaused, id, st)
		}
		return fmt.Errorf("%w: %s is %s", ErrNotRunning, id, st)
	}
	if len(rec.CgroupPaths) == 0 {
		return fmt.Errorf("%w: %s", ErrNoCgroup, id)
	}
	m, err := cgroupManager(rec.CgroupPaths)
	if err != nil {
		return fmt.Errorf("cgroup manager: %w", err)
	}
	if err := m.Freeze(to); err != nil {
		return fmt.Errorf("set freezer to %s: %w", to, err)
	}
	return nil
}

// frozen reports whether the container's cgroup is frozen (or freezing).
// A container without a cgroup, or whose freezer cannot be read, is not.
// Every status check calls it, so it reads the one file itself instead of
// building a cgroup manager: the v1 freezer's freezer.state, or on a pure
// v2 host cgroup.freeze, as the managers Pause uses do.
func (rec *record) frozen() bool {
	if p, ok := rec.CgroupPaths["freezer"]; ok {
		b, err := os.ReadFile(filepath.Join(p, "freezer.state"))
		st := strings.TrimSpace(string(b))
		return err == nil && (st == "FROZEN" || st == "FREEZING")
	}
	if p, ok := rec.CgroupPaths[""]; ok {
		b, err := os.ReadFile(filepath.Join(p, "cgroup.freeze"))
		return err == nil && strings.TrimSpace(string(b)) == "1"
	}
	return false
}

// thaw thaws the container's cgroup, so that the SIGKILLs of Delete take
// effect (a frozen task does not die until thawed). Errors are ignored: a
// container without a freezer cannot be frozen either.
func (rec *record) thaw() {
	if len(rec.CgroupPaths) == 0 {
		return
	}
	if m, err := cgroupManager(rec.CgroupPaths); err == nil {
		m.Freeze(cgroups.Thawed)
	}
}
