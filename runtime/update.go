package runtime

import (
	"fmt"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Update changes the resource limits of a created, running or paused
// container, as runc update: the limits res sets are written to the
// container's cgroup, the others stay as they are. res is checked as
// config.json's linux.resources is.
func (r *Runtime) Update(id string, res *specs.LinuxResources) error {
	if err := validateResources(res); err != nil {
		return err
	}
	l, rec, err := r.lock(id, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	if st := rec.status(l.path); st == specs.StateStopped {
		return fmt.Errorf("%w: %s is stopped", ErrNotRunning, id)
	}
	if len(rec.CgroupPaths) == 0 {
		return &ConfigError{Field: "linux.resources", Err: ErrNoCgroup}
	}
	cr := toCgroupResources(res)
	m, err := manager.NewWithPaths(&cgroups.Cgroup{Resources: cr}, rec.CgroupPaths)
	if err != nil {
		return fmt.Errorf("cgroup manager: %w", err)
	}
	if err := m.Set(cr); err != nil {
		return fmt.Errorf("update cgroup limits of %s: %w", id, err)
	}
	return nil
}
