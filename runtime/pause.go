package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// StatePaused is the status of a container whose processes are frozen by
// Pause. It is runc's; the runtime-spec has no word for it.
const StatePaused specs.ContainerState = "paused"

// ErrNoFreezer: Pause or Resume on a container without a cgroup freezer
// (rootless without a delegated cgroup).
var ErrNoFreezer = errors.New("container has no cgroup freezer (rootless without a delegated cgroup)")

// Pause freezes every process of running container id with the cgroup
// freezer, as runc pause; State then reports StatePaused until Resume.
func (r *Runtime) Pause(id string) error {
	return r.freeze(id, specs.StateRunning, cgroups.Frozen)
}

// Resume thaws a container frozen by Pause, as runc resume.
func (r *Runtime) Resume(id string) error {
	return r.freeze(id, StatePaused, cgroups.Thawed)
}

// freeze moves container id, which must be in status from, to the freezer
// state to.
func (r *Runtime) freeze(id string, from specs.ContainerState, to cgroups.FreezerState) error {
	l, rec, err := r.lock(id, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	if st := rec.status(l.path); st != from {
		return fmt.Errorf("%w: %s is %s, not %s", ErrNotRunning, id, st, from)
	}
	if rec.freezerFile() == "" {
		return fmt.Errorf("%s: %w", id, ErrNoFreezer)
	}
	m, err := cgroupManager(rec.CgroupPaths)
	if err != nil {
		return fmt.Errorf("cgroup manager: %w", err)
	}
	if err := m.Freeze(to); err != nil {
		return fmt.Errorf("set freezer of %s to %s: %w", id, strings.ToLower(string(to)), err)
	}
	return nil
}

// freezerFile is the file that tells whether the container is frozen: the
// v1 freezer's freezer.state, else the v2 cgroup.freeze; "" without one.
func (rec *record) freezerFile() string {
	if p, ok := rec.CgroupPaths["freezer"]; ok {
		return filepath.Join(p, "freezer.state")
	}
	if p, ok := rec.CgroupPaths[""]; ok {
		if f := filepath.Join(p, "cgroup.freeze"); fileExists(f) {
			return f
		}
	}
	return ""
}

// frozen reports whether the container's cgroup is frozen or freezing.
func (rec *record) frozen() bool {
	f := rec.freezerFile()
	if f == "" {
		return false
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return false
	}
	switch strings.TrimSpace(string(b)) {
	case "FROZEN", "FREEZING", "1":
		return true
	}
	return false
}

// thaw thaws a frozen container, so that a signal sent to it takes effect.
func (rec *record) thaw() error {
	if !rec.frozen() {
		return nil
	}
	m, err := cgroupManager(rec.CgroupPaths)
	if err != nil {
		return fmt.Errorf("cgroup manager: %w", err)
	}
	return m.Freeze(cgroups.Thawed)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
