package runtime

import (
	"maps"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// Features describes what this runtime implements, as "lamina features"
// prints it (runc's "features" command, runtime-spec features.md). It is
// derived from the tables Validate and the rootfs setup use, so it cannot
// drift from them:
//   - hooks: every kind Create, Start and Delete run;
//   - mountOptions: the mount flags and propagation options turned into
//     mount(2) flags, and runc's tmpcopyup extension; any other option is
//     passed to the filesystem as data;
//   - linux.namespaces: every type Validate accepts, each new or joined by
//     path (but mount: joined only by exec);
//   - linux.capabilities: every capability name Validate accepts;
//   - cgroup v1 and v2 through opencontainers/cgroups, no systemd, no RDMA;
//   - seccomp: the actions (not SCMP_ACT_NOTIFY), operators and filter
//     flags the libseccomp translation knows, and the architectures the
//     libseccomp in use supports;
//   - AppArmor, SELinux, Intel RDT, id-mapped mounts and network devices:
//     not enabled (AppArmor and SELinux labels are accepted but not
//     applied).
//
// Every call returns a new value.
func Features() *features.Features {
	opts := slices.Collect(maps.Keys(mountFlags))
	opts = slices.AppendSeq(opts, maps.Keys(propagationFlags))
	opts = append(opts, optTmpcopyup)
	slices.Sort(opts)
	var ns []string
	for t := range namespaceFlags {
		ns = append(ns, string(t))
	}
	slices.Sort(ns)
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         slices.Clone(hookKinds),
		MountOptions:  opts,
		Linux: &features.Linux{
			Namespaces:   ns,
			Capabilities: slices.Clone(capNames),
			Cgroup: &features.Cgroup{
				V1: boolPtr(true), V2: boolPtr(true), Systemd: boolPtr(false), SystemdUser: boolPtr(false), Rdma: boolPtr(false),
			},
			Seccomp:         seccompFeatures(),
			Apparmor:        &features.Apparmor{Enabled: boolPtr(false)},
			Selinux:         &features.Selinux{Enabled: boolPtr(false)},
			IntelRdt:        &features.IntelRdt{Enabled: boolPtr(false)},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: boolPtr(false)}},
			NetDevices:      &features.NetDevices{Enabled: boolPtr(false)},
		},
	}
}

func boolPtr(b bool) *bool { return &b }

func seccompFeatures() *features.Seccomp {
	var acts, ops, archs, flags []string
	for a := range seccompActions {
		acts = append(acts, string(a))
	}
	for o := range seccompOperators {
		ops = append(ops, string(o))
	}
	for a := range seccompArchs {
		if seccompArchSupported(a) {
			archs = append(archs, string(a))
		}
	}
	for _, f := range seccompFlags {
		flags = append(flags, string(f))
	}
	for _, l := range [][]string{acts, ops, archs, flags} {
		slices.Sort(l)
	}
	return &features.Seccomp{
		Enabled:   boolPtr(true),
		Actions:   acts,
		Operators: ops,
		Archs:     archs,
		// Known and supported are the same: an unknown flag is rejected.
		KnownFlags:     flags,
		SupportedFlags: slices.Clone(flags),
	}
}
