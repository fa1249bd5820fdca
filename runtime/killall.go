package runtime

import (
	"fmt"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// KillAll sends sig to every process in the cgroup of container id (runc's
// "kill --all"; containerd's shim uses it for containers that share a pid
// namespace, where killing init does not end the rest). The cgroup is
// frozen while the signals go out, so that no process forks past them,
// and left as it was afterwards, except that SIGKILL always thaws it (a
// frozen task would not die). It returns ErrNotRunning for a stopped
// container and ErrNoCgroup without a cgroup.
func (r *Runtime) KillAll(id string, sig unix.Signal) error {
	l, rec, err := r.lock(id, true)
	if err != nil {
		return err
	}
	defer l.unlock()
	if rec.status(l.path) == specs.StateStopped {
		return fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	dir := pidsCgroup(rec.CgroupPaths)
	if dir == "" {
		return fmt.Errorf("%w: %s", ErrNoCgroup, id)
	}
	m, err := cgroupManager(rec.CgroupPaths)
	if err != nil {
		return fmt.Errorf("cgroup manager: %w", err)
	}
	before, _ := m.GetFreezerState()
	if before == cgroups.Thawed {
		// Best effort: a cgroup without a freezer is signalled as it runs.
		if err := m.Freeze(cgroups.Frozen); err == nil {
			defer m.Freeze(cgroups.Thawed)
		}
	}
	if sig == unix.SIGKILL && before == cgroups.Frozen {
		defer m.Freeze(cgroups.Thawed)
	}
	pids, err := cgroups.GetAllPids(dir)
	if err != nil {
		return fmt.Errorf("list processes of %s: %w", id, err)
	}
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("signal pid %d: %w", pid, err)
		}
	}
	return nil
}
