// Package runtime is lamina's OCI runtime: it creates, starts, signals
// and deletes containers described by a runtime-spec bundle
// (BUNDLE/config.json plus a root filesystem), with runc's lifecycle, so
// that the "lamina create/start/state/kill/delete/run" commands can stand
// in for runc.
//
// # Model
//
// A container is one init process in new namespaces, in its own cgroup,
// with its root switched to the bundle's rootfs, plus a state directory
// under the runtime root. The config model is the runtime-spec's
// specs.Spec, used directly; there is no second config type. Validate
// checks a spec against what is implemented: every problem is a
// *ConfigError naming the JSON field ("root.path",
// "linux.namespaces[3].type"); a request for a feature that is not
// implemented yet (seccomp, hooks, terminal, joining namespaces by path,
// the time namespace, ...) wraps ErrUnsupported and is never ignored.
//
// Status is never stored. It is derived every time from the init process:
//   - stopped: the recorded pid does not exist, is a zombie, or has a
//     start time (field 22 of /proc/PID/stat) other than the recorded one
//     (the pid was reused);
//   - created: init lives and exec.fifo still exists;
//   - running: init lives and exec.fifo is gone.
//
// Signals go through a pidfd opened before the start time check, so a
// reused pid is never signalled.
//
// # State directory
//
// The root (Runtime.Root, default DefaultRoot: /run/lamina, or
// $XDG_RUNTIME_DIR/lamina rootless) is created mode 0700. Each container
// has ROOT/ID (mode 0711), holding exactly:
//
//   - state.json (0600): one JSON object, written atomically (temporary
//     file ".state.json.*" in the same directory, then rename). Fields:
//     "ociVersion", "id", "status" (always written as "" and ignored on
//     read), "pid", "bundle" (absolute), "annotations" (from config.json),
//     "rootfs" (absolute, symlinks resolved), "created" (RFC 3339, UTC),
//     "owner" (user name of the creator's euid), "initStartTime" (clock
//     ticks since boot, from /proc/PID/stat) and "cgroupPaths" (controller
//     name, or "" for the v2 hierarchy, to the absolute cgroup directory).
//   - exec.fifo (0600): a named pipe that exists from Create until Start.
//
// The pid file of WithPidFile holds the decimal pid with no newline and is
// also written atomically (temporary file, rename). Nothing else is
// written to disk, except what the container's own mounts and /dev setup
// create inside the rootfs when it has no /dev mount (device nodes and the
// fd, stdin, stdout, stderr, ptmx symlinks in ROOTFS/dev) and the mount
// points that are missing in the rootfs (empty directories or files).
//
// # Locking
//
// There is one lock per container: flock on the ROOT/ID directory itself.
// State and Kill take it shared; Create, Start and Delete exclusive. Only
// one lock is ever held at a time, so there is no lock order to get wrong.
// Create claims an ID with mkdir (atomic), then locks the directory and
// holds the lock until state.json is written; a concurrent reader that
// finds the directory but no state.json reports ErrNotExist. Every
// operation re-reads state.json after taking the lock, so it acts on what
// is on disk then (Delete may have removed the directory in between).
//
// # Lifecycle and the init re-exec
//
// A Go process is multithreaded, so it cannot unshare a user namespace.
// Create therefore re-executes a program (default /proc/self/exe init,
// see WithInitCommand) with SysProcAttr.Cloneflags for the configured
// namespaces and the uid/gid mappings, which Go's os/exec writes before
// the child runs. The program must call Init when IsInit reports true
// (lamina's main does, before building its command tree, which every
// container start would pay for; tests call it from TestMain). The
// child's environment holds only _LAMINA_INIT_FD=N, the number of its end
// of a socketpair; fds 3..N-1 are the ones preserved with
// WithPreserveFDs.
//
//  1. Create validates config.json, mkdirs and locks ROOT/ID, makes
//     exec.fifo and starts init. The cgroup namespace is not in the clone
//     flags.
//  2. The parent creates the cgroup (github.com/opencontainers/cgroups:
//     v1, hybrid or v2), moves init into it and sets the limits, then
//     sends one JSON initConfig (the spec, the resolved rootfs, the fifo
//     path, --no-pivot, the preserved fd count) on the socket.
//  3. Init locks itself to its OS thread (capabilities, keepcaps,
//     no_new_privs and the cgroup namespace are per thread; it execs from
//     that thread), makes itself non-dumpable (no other process can open
//     /proc/PID/exe, the runtime binary: the CVE-2019-5736 class), and
//     unshares the cgroup namespace now that it is in its cgroup, so the
//     cgroup is the namespace root. It opens exec.fifo O_RDONLY|O_NONBLOCK
//     while the host path is still reachable.
//  4. Rootfs, in the new mount namespace: / becomes rslave (or
//     linux.rootfsPropagation); the rootfs is bind-mounted onto itself;
//     the config mounts follow in order (bind with a remount for the
//     flags, proc, sysfs, tmpfs, devpts, mqueue, cgroup as cgroup2 or as a
//     tmpfs of v1 hierarchies; then the propagation options); /dev gets
//     the default devices (mknod, or a bind of the host node in a user
//     namespace), linux.devices, and the fd/stdin/stdout/stderr/ptmx
//     symlinks, unless /dev is a bind mount. Mount targets are resolved
//     inside the rootfs with securejoin.
//  5. Root switch: pivot_root(".", "."), then the old root, stacked on
//     top, is made rslave and lazily unmounted. With --no-pivot every
//     mount outside the rootfs is detached, the rootfs is moved onto /
//     (MS_MOVE) and chrooted into.
//  6. Inside: masked paths (/dev/null bound over files, a read-only tmpfs
//     over directories), read-only paths, sysctls, the read-only root,
//     hostname and domainname, oom_score_adj, rlimits, then the user:
//     bounding set dropped, keepcaps, setgroups/setresgid/setresuid,
//     effective/permitted/inheritable with capset, ambient with prctl;
//     then the cwd (getcwd must succeed, so it is inside the root: the
//     CVE-2024-21626 class), the program lookup in the container's PATH,
//     the umask (default 022), no_new_privs, and close_range(3+preserved,
//     ~0, CLOEXEC) so that every other fd closes at exec.
//  7. Init answers one JSON initReply (empty, or the error); the parent
//     then writes state.json and the pid file, and Create returns. On any
//     error before that, the parent kills init and removes the cgroup and
//     the state directory: nothing is left behind.
//  8. Init polls exec.fifo. poll reports no POLLHUP on a fifo that never
//     had a writer, so it sleeps until Start opens the fifo O_WRONLY|
//     O_NONBLOCK (ENXIO means init is gone), writes one byte and removes
//     the fifo. Init reads the byte and execs process.args.
//
// Delete refuses a running container unless forced, kills a created one
// (as runc does), SIGKILLs what is left in the cgroup, removes the cgroup
// (retrying while killed tasks exit) and the state directory.
//
// # Cgroups
//
// An empty linux.cgroupsPath means the relative path ID. Relative paths
// are below the caller's own cgroup in each hierarchy, absolute ones below
// the hierarchy root (both as runc without systemd). On this kind of
// hybrid host the v1 manager also joins the empty v2 hierarchy at
// /sys/fs/cgroup/unified. Memory (limit, reservation, swap, swappiness,
// OOM killer), CPU (shares, quota, period, cpus, mems), pids and the blkio
// weight are translated; other resource settings are rejected.
// The devices controller is not programmed yet (SkipDevices).
//
// # Not implemented yet
//
// Seccomp, hooks, terminal mode and --console-socket, joining namespaces
// by path, the time namespace, exec, systemd cgroups, device cgroup rules,
// id-mapped mounts, newuidmap/newgidmap for rootless multi-range mappings,
// AppArmor and SELinux labels (accepted and not applied).
//
// # Introspection
//
// Features reports what this runtime implements, built from the same tables
// Validate and the rootfs setup use, so it cannot drift from them (the
// "lamina features" JSON). Runtime.Pids lists the host pids in a running
// container's cgroup, sub-cgroups included ("lamina ps ID"). ParseSignal
// reads a signal as runc's kill and an image's StopSignal spell it.
package runtime
