package runtime

import (
	"fmt"
	"slices"

	"github.com/opencontainers/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// pidsControllers is the order in which Pids picks the cgroup to read on
// a v1 or hybrid host: any controller holds every process of the
// container, so the first one recorded is used. "" (the v2 hierarchy) is
// last: on a hybrid host the v1 manager joins it too, on a unified host it
// is the only one.
var pidsControllers = []string{"pids", "memory", "cpu", "cpuacct", "freezer", "devices", "blkio", "cpuset", "name=systemd", ""}

// Pids returns the host pids of every process in the cgroup of container
// id (its cgroup.procs and those of any cgroup below it), sorted, as
// "lamina ps" prints them. It returns ErrNotRunning for a stopped
// container, and an error when the container has no cgroup (rootless
// without a delegated cgroup).
func (r *Runtime) Pids(id string) ([]int, error) {
	l, rec, err := r.lock(id, false)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	if rec.status(l.path) == specs.StateStopped {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, id)
	}
	dir := pidsCgroup(rec.CgroupPaths)
	if dir == "" {
		return nil, fmt.Errorf("list processes of %s: container has no cgroup", id)
	}
	pids, err := cgroups.GetAllPids(dir)
	if err != nil {
		return nil, fmt.Errorf("list processes of %s: %w", id, err)
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// pidsCgroup picks the cgroup directory whose cgroup.procs Pids reads.
func pidsCgroup(paths map[string]string) string {
	for _, c := range pidsControllers {
		if p := paths[c]; p != "" {
			return p
		}
	}
	keys := make([]string, 0, len(paths))
	for k, p := range paths {
		if p != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	return paths[keys[0]]
}
