package conformance

// Notes says why a program fails, for the programs that failed for lamina
// or runc on the machine of bench/results/conformance.md (2-core VM,
// kernel 6.18, hybrid cgroups, runc 1.1.5, a root without
// CAP_SYS_RESOURCE). They were found by reading each program and its
// output (run with --logs); a row shows its note only while one of the
// runtimes fails it. Keep them in step with the results.
var Notes = map[string]string{
	"delete": "The program wants `delete` of a *created* container to fail, as runtime-spec says; lamina, like runc, kills and deletes it (runc compatibility: engines delete containers whose start failed).",
	"hooks":  "Cannot pass: the program compares the hooks' output with `post-start1\\npost-start2...` while its own hooks write `post-start1 called`.",
	"hooks_stdin": "The program wants status `created` for prestart hooks; runtime-spec 1.1 runs them during create and lamina, like runc, passes `creating`. " +
		"runc 1.1.5 also passes `created` to poststart hooks (lamina: `running`).",
	"prestart":                       "Obsolete expectation: the program wants prestart hooks to run at `start`; runtime-spec 1.1 runs them during `create` (both runtimes do).",
	"poststart":                      "Racy program: it wants the process's line in the file before the hook's, while the spec only orders the hook after the process is executed; lamina runs it right after the exec, so the two shells race (lamina passes about one run in three). With runc 1.1.5 the hook's output is already there right after `create`.",
	"poststart_fail":                 "The program tests the older rule (a failing poststart hook is a warning); lamina follows runtime-spec 1.3 (#1262: an error, the container is stopped and destroyed).",
	"poststop_fail":                  "runc 1.1.5 reports an error when a poststop hook fails; the spec (and lamina) only warn.",
	"pidfile":                        "Racy program: its process is `true`, which has exited before the program's `kill`, and killing a stopped container must fail.",
	"start":                          "The program writes a config without `process` and expects create to succeed; both runtimes refuse it at create.",
	"misc_props":                     "The program's bundle for the annotation case lacks /runtimetest (the program does not copy it there); both runtimes fail to find it.",
	"process_rlimits":                "Suite artifact: runtimetest is a Go 1.19+ program, and Go raises its own soft RLIMIT_NOFILE to the hard limit at start, so it reads 4000, not 3000.",
	"process_capabilities":           "This machine's root lacks CAP_SYS_RESOURCE (CapBnd 1fffeffffff), so capset of the full set the program asks for fails with EPERM in both runtimes.",
	"process_capabilities_fail":      "runc 1.1.5 ignores the unknown capability CAP_TEST; lamina refuses it as the spec asks.",
	"linux_seccomp":                  "The program's filter makes getcwd fail; lamina and runc both check with getcwd that the cwd is inside the container (CVE-2024-21626) and refuse to start.",
	"linux_ns_itype":                 "lamina requires a mount namespace (a container without one would mount into the caller's namespace, as runc does); the program asks for no namespace at all.",
	"linux_mount_label":              "runc tries the SELinux context= mount option, which this kernel (no SELinux) refuses; lamina accepts linux.mountLabel and does not apply it (it warns).",
	"linux_process_apparmor_profile": "runc fails without AppArmor on the host; lamina accepts process.apparmorProfile and does not apply it (it warns).",
	"linux_rootfs_propagation":       "runc 1.1.5 does not set the propagation on the container's root mount (shared) and fails the rootfs bind for unbindable.",
	"linux_cgroups_blkio":            "lamina refuses per-device blkio settings (not implemented); runc fails on blkio.leaf_weight, which kernel 6.18 no longer has.",
	"linux_cgroups_relative_blkio":   "lamina refuses per-device blkio settings (not implemented); runc fails on blkio.leaf_weight, which kernel 6.18 no longer has.",
	"linux_cgroups_hugetlb":          "lamina refuses hugepage limits (not implemented); runc cannot create the hugetlb cgroup on this host.",
	"linux_cgroups_relative_hugetlb": "lamina refuses hugepage limits (not implemented); runc cannot create the hugetlb cgroup on this host.",
	"linux_cgroups_network":          "lamina refuses net_cls/net_prio settings (not implemented); runc cannot create the net_cls cgroup on this host (no such v1 hierarchy).",
	"linux_cgroups_relative_network": "lamina refuses net_cls/net_prio settings (not implemented); runc cannot create the net_cls cgroup on this host (no such v1 hierarchy).",
	"linux_cgroups_memory":           "Kernel memory limits (memory.kernel, kernelTCP) no longer exist in cgroup v1 on kernel 6.18; neither runtime can set them (lamina warns).",
	"linux_cgroups_relative_memory":  "Kernel memory limits (memory.kernel, kernelTCP) no longer exist in cgroup v1 on kernel 6.18; neither runtime can set them (lamina warns).",
	"linux_cgroups_devices":          "Both runtimes program the rules and fail the same check: they add the allowances every container needs (runc's defaults, lamina the same), which the program does not expect in devices.list.",
	"linux_cgroups_relative_devices": "Both runtimes program the rules and fail the same check: they add the allowances every container needs (runc's defaults, lamina the same), which the program does not expect in devices.list.",
}
