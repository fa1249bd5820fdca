package runtime

import (
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/cgroups/manager"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// validateResources rejects resource settings that toCgroupResources does
// not translate, so none is dropped silently.
func validateResources(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := validateDeviceRules(r.Devices); err != nil {
		return err
	}
	if len(r.HugepageLimits) > 0 {
		return unsupported("linux.resources.hugepageLimits", "a hugepage limit")
	}
	if r.Network != nil {
		return unsupported("linux.resources.network", "a network class or priority")
	}
	if len(r.Rdma) > 0 {
		return unsupported("linux.resources.rdma", "an RDMA limit")
	}
	if len(r.Unified) > 0 {
		return unsupported("linux.resources.unified", "a unified cgroup v2 setting")
	}
	if r.CPU != nil && (r.CPU.RealtimeRuntime != nil || r.CPU.RealtimePeriod != nil) {
		return unsupported("linux.resources.cpu.realtimeRuntime", "a realtime CPU setting")
	}
	if b := r.BlockIO; b != nil && (len(b.WeightDevice)+len(b.ThrottleReadBpsDevice)+len(b.ThrottleWriteBpsDevice)+
		len(b.ThrottleReadIOPSDevice)+len(b.ThrottleWriteIOPSDevice) > 0) {
		return unsupported("linux.resources.blockIO", "a per-device block I/O setting")
	}
	return nil
}

// toCgroupResources translates the spec's resources to the cgroups
// library's, but for the device rules (SkipDevices): cgroupConfig adds
// them, and Update leaves them alone.
func toCgroupResources(r *specs.LinuxResources) *cgroups.Resources {
	out := &cgroups.Resources{SkipDevices: true}
	if r == nil {
		return out
	}
	if m := r.Memory; m != nil {
		if m.Limit != nil {
			out.Memory = *m.Limit
		}
		if m.Reservation != nil {
			out.MemoryReservation = *m.Reservation
		}
		if m.Swap != nil {
			out.MemorySwap = *m.Swap
		}
		if m.Swappiness != nil {
			s := *m.Swappiness
			out.MemorySwappiness = &s
		}
		if m.DisableOOMKiller != nil {
			out.OomKillDisable = *m.DisableOOMKiller
		}
	}
	if c := r.CPU; c != nil {
		if c.Shares != nil {
			out.CpuShares = *c.Shares
		}
		if c.Quota != nil {
			out.CpuQuota = *c.Quota
		}
		if c.Period != nil {
			out.CpuPeriod = *c.Period
		}
		out.CpusetCpus = c.Cpus
		out.CpusetMems = c.Mems
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		l := *p.Limit
		out.PidsLimit = &l
	}
	if b := r.BlockIO; b != nil && b.Weight != nil {
		out.BlkioWeight = *b.Weight
	}
	return out
}

// cgroupConfig builds the cgroups library config for container id. An
// empty cgroupsPath means the relative path ID, that is a child of the
// caller's own cgroup in every hierarchy (what runc does without systemd).
func cgroupConfig(id string, s *specs.Spec) (*cgroups.Cgroup, error) {
	p := s.Linux.CgroupsPath
	if strings.Contains(p, ":") {
		return nil, unsupported("linux.cgroupsPath", "a systemd cgroup path (slice:prefix:name)")
	}
	cg := &cgroups.Cgroup{
		Path:      p,
		Resources: toCgroupResources(s.Linux.Resources),
		Rootless:  Rootless(),
	}
	if !cg.Rootless {
		cg.Resources.SkipDevices = false
		cg.Resources.Devices = deviceRules(s)
	}
	if p == "" {
		// Name instead of Path: the library then tolerates a rootless
		// caller without a delegated cgroup (no limits, no cgroup).
		cg.Name = id
	}
	return cg, nil
}

// applyCgroup creates the container's cgroup, moves pid into it and sets
// its limits. It returns the paths to record in state.json. On error the
// cgroup is removed again.
func applyCgroup(cg *cgroups.Cgroup, pid int) (map[string]string, error) {
	m, err := manager.New(cg)
	if err != nil {
		return nil, fmt.Errorf("cgroup manager: %w", err)
	}
	aerr := m.Apply(pid)
	if aerr != nil && !errors.Is(aerr, cgroups.ErrRootless) {
		m.Destroy()
		return nil, fmt.Errorf("join cgroup %s: %w", cg.Path+cg.Name, aerr)
	}
	if err := m.Set(cg.Resources); err != nil {
		m.Destroy()
		if aerr != nil {
			// Rootless without a cgroup of its own: no limits can hold.
			return nil, &ConfigError{Field: "linux.resources", Err: fmt.Errorf("limits cannot be applied: %w (%v)", ErrNoCgroup, err)}
		}
		return nil, fmt.Errorf("set cgroup limits: %w", err)
	}
	return m.GetPaths(), nil
}

func cgroupManager(paths map[string]string) (cgroups.Manager, error) {
	return manager.NewWithPaths(&cgroups.Cgroup{Resources: &cgroups.Resources{SkipDevices: true}}, paths)
}

// destroyCgroup kills whatever is left in the cgroup and removes it.
func destroyCgroup(paths map[string]string) error {
	if len(paths) == 0 {
		return nil
	}
	m, err := cgroupManager(paths)
	if err != nil {
		return fmt.Errorf("cgroup manager: %w", err)
	}
	if pids, err := m.GetAllPids(); err == nil {
		for _, p := range pids {
			killPid(p)
		}
	}
	m.Freeze(cgroups.Thawed) // frozen (paused) processes die only once thawed
	if err := m.Destroy(); err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	return nil
}
