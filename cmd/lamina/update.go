package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func init() { register(newUpdateCmd) }

// updateFlags are runc update's flags that lamina applies.
type updateFlags struct {
	resources                             string
	memory, memoryReservation, memorySwap string
	cpuShares, cpuPeriod, blkioWeight     uint64
	cpuQuota, pidsLimit                   int64
	cpusetCpus, cpusetMems                string
}

// updateLimitFlags are the flags that set one limit each.
var updateLimitFlags = []string{"memory", "memory-reservation", "memory-swap", "cpu-share", "cpu-period",
	"cpu-quota", "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight"}

func (f *updateFlags) add(fs *pflag.FlagSet) {
	fs.StringVarP(&f.resources, "resources", "r", "", "a runtime-spec linux.resources JSON file (- for stdin); the other flags then must not be given")
	fs.StringVar(&f.memory, "memory", "", "memory limit, in bytes or with a unit (64m, 1g); -1 for none")
	fs.StringVar(&f.memoryReservation, "memory-reservation", "", "memory soft limit (bytes or 64m; -1 for none)")
	fs.StringVar(&f.memorySwap, "memory-swap", "", "memory plus swap limit (bytes or 64m; -1 for none)")
	fs.Uint64Var(&f.cpuShares, "cpu-share", 0, "CPU shares (relative weight)")
	fs.Uint64Var(&f.cpuPeriod, "cpu-period", 0, "CPU CFS period, in microseconds")
	fs.Int64Var(&f.cpuQuota, "cpu-quota", 0, "CPU CFS quota per period, in microseconds")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs the container may use (0-3, 0,1)")
	fs.StringVar(&f.cpusetMems, "cpuset-mems", "", "memory nodes the container may use (0-3, 0,1)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "the most processes (and threads) at once")
	fs.Uint64Var(&f.blkioWeight, "blkio-weight", 0, "block I/O weight, 10 to 1000")
}

// build returns the resources to set: --resources's file, or the flags
// that were given.
func (f *updateFlags) build(fs *pflag.FlagSet) (*specs.LinuxResources, error) {
	if f.resources != "" {
		for _, name := range updateLimitFlags {
			if fs.Changed(name) {
				return nil, fmt.Errorf("--resources: give either a file or --%s, not both", name)
			}
		}
		var in io.Reader = os.Stdin
		if f.resources != "-" {
			file, err := os.Open(f.resources)
			if err != nil {
				return nil, fmt.Errorf("--resources: %w", err)
			}
			defer file.Close()
			in = file
		}
		var r specs.LinuxResources
		if err := json.NewDecoder(in).Decode(&r); err != nil {
			return nil, fmt.Errorf("--resources: parse %s: %w", f.resources, err)
		}
		return &r, nil
	}
	r := &specs.LinuxResources{}
	bytes := func(name, v string, dst **int64) error {
		if !fs.Changed(name) {
			return nil
		}
		if v == "-1" { // unlimited, as runc update takes it
			n := int64(-1)
			*dst = &n
			return nil
		}
		n, err := parseBytes(v)
		if err != nil {
			return fmt.Errorf("--%s: %w", name, err)
		}
		*dst = &n
		return nil
	}
	mem := &specs.LinuxMemory{}
	for _, b := range []struct {
		name, v string
		dst     **int64
	}{{"memory", f.memory, &mem.Limit}, {"memory-reservation", f.memoryReservation, &mem.Reservation}, {"memory-swap", f.memorySwap, &mem.Swap}} {
		if err := bytes(b.name, b.v, b.dst); err != nil {
			return nil, err
		}
	}
	if *mem != (specs.LinuxMemory{}) {
		r.Memory = mem
	}
	cpu := &specs.LinuxCPU{}
	if fs.Changed("cpu-share") {
		cpu.Shares = &f.cpuShares
	}
	if fs.Changed("cpu-period") {
		cpu.Period = &f.cpuPeriod
	}
	if fs.Changed("cpu-quota") {
		cpu.Quota = &f.cpuQuota
	}
	cpu.Cpus, cpu.Mems = f.cpusetCpus, f.cpusetMems
	if cpu.Shares != nil || cpu.Period != nil || cpu.Quota != nil || cpu.Cpus != "" || cpu.Mems != "" {
		r.CPU = cpu
	}
	if fs.Changed("pids-limit") {
		r.Pids = &specs.LinuxPids{Limit: &f.pidsLimit}
	}
	if fs.Changed("blkio-weight") {
		if f.blkioWeight < 10 || f.blkioWeight > 1000 {
			return nil, fmt.Errorf("--blkio-weight: %d is not between 10 and 1000", f.blkioWeight)
		}
		w := uint16(f.blkioWeight)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	if r.Memory == nil && r.CPU == nil && r.Pids == nil && r.BlockIO == nil {
		return nil, fmt.Errorf("update: nothing to change; give --resources or a limit flag")
	}
	return r, nil
}

func newUpdateCmd() *cobra.Command {
	var f updateFlags
	c := runtimeCmd(&cobra.Command{
		Use:   "update [flags] ID",
		Short: "Change the resource limits of a container",
		Long: `update writes new resource limits into the cgroup of container ID (created,
running or paused), as runc update does: the limits given change, the
others stay. Limits come from flags, or from a runtime-spec
linux.resources object in a JSON file (--resources, - for stdin).`,
		Example: `  lamina update --memory 256m --pids-limit 100 ctr
  echo '{"cpu": {"quota": 50000, "period": 100000}}' | lamina update -r - ctr`,
		Args: cobra.ExactArgs(1),
	}, func(cmd *cobra.Command, rt *runtime.Runtime, args []string) error {
		res, err := f.build(cmd.Flags())
		if err != nil {
			return err
		}
		return rt.Update(args[0], res)
	})
	f.add(c.Flags())
	return c
}
