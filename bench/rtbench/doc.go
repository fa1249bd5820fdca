// Package rtbench measures lamina's OCI runtime against runc and crun on the
// same machine, in one run, with the same bundle.
//
// # Method
//
// One iteration of a runtime is what a container engine's shim does for a
// short-lived container, each step a separate invocation of the runtime's
// command line with its own --root state directory:
//
//	RUNTIME --root ROOT create --bundle BUNDLE --pid-file PIDFILE ID
//	RUNTIME --root ROOT start ID
//	wait4(init)            (the benchmark is a child subreaper, as shims are)
//	RUNTIME --root ROOT delete ID
//
// The four phases are timed separately and together. Iterations are
// interleaved round-robin (lamina, runc, crun, lamina, ..., the order
// rotating each round) so that drift on the machine hits every runtime
// alike; a few warm-up rounds are not counted. Every runtime gets stdin and
// stdout on /dev/null and stderr in a file, so no pipe is held open by the
// container's init.
//
// # Bundle
//
// The rootfs holds /bin/busybox (busybox-static, copied from the host) and
// /bin/true, a symlink to it. config.json is lamina's default spec
// (runtime.DefaultSpec, what "lamina spec" writes) with terminal false,
// args ["/bin/true"] and ociVersion 1.0.2, the newest version runc 1.1 and
// crun 1.8 accept. The same file is used by every runtime.
//
// # Cgroups
//
// crun refuses a hybrid cgroup host whose v2 hierarchy
// (/sys/fs/cgroup/unified) has controllers ("cgroups in hybrid mode not
// supported"). On such a host the benchmark runs every runtime in a private
// mount namespace in which /sys/fs/cgroup/unified is detached, so each
// sees a pure cgroup v1 host and uses its cgroupfs manager on the v1
// controllers, apples to apples (see HideUnified). The report states which
// cgroup setup was used.
//
// # Output
//
// Medians and 90th percentiles per runtime and phase, and the ratios of
// lamina's median to runc's and crun's, as a text table (WriteText) and a
// Markdown report (WriteMarkdown, bench/results/runtime.md).
package rtbench
