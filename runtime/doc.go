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
// implemented yet (seccomp notify, a memory policy, ...)
// wraps ErrUnsupported and is never ignored.
//
// Status is never stored. It is derived every time from the init process:
//   - stopped: the recorded pid does not exist, is a zombie, or has a
//     start time (field 22 of /proc/PID/stat) other than the recorded one
//     (the pid was reused);
//   - created: init lives and exec.fifo still exists;
//   - running: init lives and exec.fifo is gone;
//   - paused (StatePaused, runc's extra status): running, and the
//     container's cgroup is frozen (Pause; the v1 freezer controller or
//     cgroup.freeze on v2). Resume thaws it; Delete thaws it after its
//     SIGKILL, since a frozen task does not die until thawed.
//
// Signals go through a pidfd opened before the start time check, so a
// reused pid is never signalled. KillAll (runc's kill --all) signals every
// process of the container's cgroup instead, with the cgroup frozen while
// the signals go out.
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
//     name, or "" for the v2 hierarchy, to the absolute cgroup directory)
//     and "hooks" (config.json's hooks at Create, runtime-spec JSON; Start
//     and Delete run poststart and poststop from here), "seccomp"
//     (config.json's linux.seccomp at Create; Exec loads it from here) and
//     "process" (config.json's process at Create; "lamina exec" starts
//     from it).
//   - exec.fifo (0600): a named pipe that exists from Create until Start,
//     owned by the host ids of the container's root when it has a new or
//     joined user namespace. Init holds it open O_RDWR. After Start's byte, init
//     may write one JSON initReply into it ({"error": "...", "hook":
//     {...}}) when it fails before the exec; Start reads it when it waits
//     for the exec (see Hooks).
//
// The pid file of WithPidFile (for Create and Exec) holds the decimal pid
// with no newline and is also written atomically (temporary file, rename).
// Exec writes nothing else to disk. Nothing else is
// written to disk, except what the container's own mounts and /dev setup
// create inside the rootfs when it has no /dev mount (device nodes and the
// fd, stdin, stdout, stderr, ptmx symlinks in ROOTFS/dev, and in terminal
// mode an empty ROOTFS/dev/console as the console's mount point) and the
// mount points that are missing in the rootfs (empty directories or
// files).
//
// # Locking
//
// There is one lock per container: flock on the ROOT/ID directory itself.
// State, Kill, Config and Exec take it shared; Create, Start and Delete
// exclusive (Exec holds it until its process has exec'd, so Delete cannot
// remove the container under it). Only
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
// see WithInitCommand) in the configured namespaces: with
// SysProcAttr.Cloneflags, or through the nsenter constructor (see below)
// for a user or time namespace or a namespace path. The program must call
// Init when IsInit reports true (lamina's main does, before building its
// command tree, which every container start would pay for; tests call it
// from TestMain). The child's environment holds only _LAMINA_INIT_FD=N,
// the number of its end of a socketpair (plus the constructor's
// variables). The fds from 3 up are, in order: the ones preserved with
// WithPreserveFDs, an O_PATH fd on exec.fifo, in terminal mode the
// console socket, then the socket. Init starts a new session (setsid), as
// runc's does.
//
//  1. Create validates config.json, mkdirs and locks ROOT/ID, makes
//     exec.fifo and starts init. The cgroup namespace is not in the clone
//     flags.
//  2. The parent creates the cgroup (github.com/opencontainers/cgroups:
//     v1, hybrid or v2), moves init into it and sets the limits, then
//     sends one JSON initConfig (the spec, the resolved rootfs, the fifo
//     fd, --no-pivot, the preserved fd count, the state the hooks get) on
//     the socket.
//  3. Init locks itself to its OS thread (capabilities, keepcaps,
//     no_new_privs and the cgroup namespace are per thread; it execs from
//     that thread), makes itself non-dumpable (no other process can open
//     /proc/PID/exe, the runtime binary: the CVE-2019-5736 class), and
//     unshares the cgroup namespace now that it is in its cgroup, so the
//     cgroup is the namespace root. It opens exec.fifo O_RDWR|O_NONBLOCK
//     through /proc/self/fd/FIFOFD: root of a new user namespace may be
//     another host user (0 mapped to 100000), which cannot reach the
//     state directory; the parent made the fifo that user's.
//  4. Rootfs, in the new mount namespace: / becomes rslave (or
//     linux.rootfsPropagation, unless that is unbindable); the mount
//     holding the rootfs is made private when it is shared (pivot_root
//     refuses a shared parent); the rootfs is bind-mounted onto itself;
//     the config mounts follow in order (bind with a remount for the
//     flags; key=value data such as "mode=755" means nothing to a bind
//     and is ignored, as the kernel ignores it for runc, while any other
//     word that is not a flag is refused; proc, sysfs, tmpfs, devpts,
//     mqueue, tmpfs with runc's tmpcopyup extension (filled with a copy
//     of the directory it covers, see tmpcopyup.go), cgroup: with a
//     cgroup namespace as cgroup2 or as a tmpfs of v1 hierarchies,
//     without one as binds of the container's own cgroup directories,
//     runc's layout (see cgroupmount.go); then the propagation options);
//     /dev gets the default devices (mknod, or a bind of the host node in a user
//     namespace), linux.devices, and the fd/stdin/stdout/stderr/ptmx
//     symlinks, unless /dev is a bind mount. Mount targets are resolved
//     inside the rootfs with securejoin. Then the hooks of creation: when
//     there are prestart or createRuntime hooks, init sends
//     {"hooks": true} and waits; the parent runs them (in the runtime's
//     namespaces) and answers {}. Init then runs the createContainer
//     hooks itself, in the container's namespaces, with host paths still
//     reachable.
//  5. Root switch: pivot_root(".", "."), then the old root, stacked on
//     top, is made rslave and lazily unmounted. With --no-pivot every
//     mount outside the rootfs is detached, the rootfs is moved onto /
//     (MS_MOVE) and chrooted into. linux.rootfsPropagation is then set
//     on the new / itself. In terminal mode init then sets up the
//     container's terminal (see Terminal below).
//  6. Inside: sysctls (before /proc/sys turns read-only, as in runc),
//     masked paths (/dev/null bound over files, a read-only tmpfs over
//     directories), read-only paths, the read-only root,
//     hostname and domainname, oom_score_adj, the hard rlimits that must
//     be raised (the limits themselves are set just before the exec, so
//     that init never runs under them: see rlimit.go), the seccomp filter
//     compiled (loaded here only in the case described under Seccomp),
//     then the user: bounding set dropped, keepcaps,
//     setgroups/setresgid/setresuid, effective/permitted/inheritable with
//     capset, ambient with prctl;
//     then the cwd (getcwd must succeed, so it is inside the root: the
//     CVE-2024-21626 class), the program lookup in the container's PATH,
//     the umask (default 022), no_new_privs, and close_range(3+preserved,
//     ~0, CLOEXEC) so that every other fd closes at exec.
//  7. Init answers one JSON initReply (empty, or the error); the parent
//     then writes state.json and the pid file, and Create returns. On any
//     error before that, the parent kills init and removes the cgroup and
//     the state directory: nothing is left behind.
//  8. Init polls exec.fifo (it is a writer itself, so poll never reports
//     POLLHUP) until Start opens the fifo O_WRONLY|O_NONBLOCK (ENXIO means
//     init is gone), writes one byte and removes the fifo. Init reads the
//     byte, runs the startContainer hooks (inside the container, as the
//     container's user), loads the seccomp filter, sets process.rlimits
//     and execs process.args.
//
// # Joining namespaces: the nsenter constructor
//
// setns into a user or mount namespace, and unshare(CLONE_NEWUSER), need a
// single-threaded process, and setns or unshare of pid and time namespaces
// only affect children. So when Create must join a namespace by path
// (linux.namespaces[i].path, checked with the NS_GET_NSTYPE ioctl), make a
// time namespace, or make a user namespace (a process keeps its
// capabilities in a new user namespace across fork but not across execve
// unless its uid maps to 0 there, so root could not map 0 to 100000 with
// Cloneflags), and always for Exec, the re-executed process goes
// through runtime/internal/nsenter, a cgo constructor that runs before the
// Go runtime (its package doc has the protocol). The parent moves it into
// the container's cgroups; it joins the namespace fds it inherits (user
// first), unshares the new namespaces (the parent writes the id maps of a
// new user namespace: itself as root or for a caller mapping only its own
// id, otherwise through the setuid newuidmap and newgidmap, which check
// /etc/subuid and /etc/subgid), unshares a time namespace and writes
// linux.timeOffsets to /proc/self/timens_offsets, then forks with
// CLONE_PARENT, reports the child's pid and exits (after switching to
// uid and gid 0 of a new or joined user namespace; the parent then gives
// exec.fifo to that host user). The child, a child of
// the runtime that it waits for, runs Init as above. Create otherwise uses
// Cloneflags, one process fewer. The constructor's environment adds the
// _LAMINA_NSENTER* variables to _LAMINA_INIT_FD. A joined cgroup namespace is not
// unshared again. In a joined mount namespace, which its other processes
// share, the rootfs setup leaves / and the rootfs's parent alone, makes
// its rootfs bind private and chroots instead of pivot_root (which would
// move every process's root); the container's mounts stay in that
// namespace after it is deleted.
//
// # Exec
//
// Exec runs a process in a created or running container: it opens the
// namespaces of init (/proc/PID/ns/*, those that differ from the caller's)
// and its root (/proc/PID/root, O_PATH) by pid, then checks through the
// pidfd verified against the recorded start time that the pid still names
// init. The process joins the cgroups of state.json's cgroupPaths and the
// namespaces (user first, mount last) in the constructor, then, in Go:
// non-dumpable, fchdir to the root fd and chroot (joining a mount
// namespace sets the root to the namespace's, which is not the container's
// after --no-pivot), then the same process settings as init (rlimits,
// user, capabilities, cwd check, PATH lookup, umask, no_new_privs,
// close-on-exec above the preserved fds), and the exec. Its sync socket is
// close-on-exec: Exec reads EOF once the program runs, or an initReply
// with the error. The container's seccomp filter, as Create read it
// (state.json), is loaded last. The process is a child of the caller
// (Process.Wait).
//
// Delete refuses a running or paused container unless forced, kills a created one
// (as runc does), SIGKILLs what is left in the cgroup, removes the cgroup
// (retrying while killed tasks exit) and the state directory, then runs
// the poststop hooks.
//
// # Hooks
//
// Every hook (runtime-spec "POSIX-platform Hooks") is run with exactly its
// args (argv, args[0] included; just the path when empty) and exactly its
// env (empty when unset), the state JSON (ociVersion, id, status, pid,
// bundle, annotations; pid is init's host pid) on stdin, its stdout and
// stderr captured, in its own process group; a timeout kills the group.
// Validate wants absolute paths and positive timeouts. The moments:
//
//   - prestart, then createRuntime: status "creating", in Create, by the
//     runtime, in its namespaces, once the container's namespaces and
//     mounts exist and before the root switch (lifecycle step 4);
//   - createContainer: "creating", by init in the container's namespaces,
//     right after those, before the root switch;
//   - startContainer: "created", by init after Start's byte, after the
//     root switch and the user switch, before the exec;
//   - poststart: "running", by Start after the exec, before it returns;
//   - poststop: "stopped", by Delete after the container is removed.
//
// A failing (non-zero exit, could not start, timed out) hook of the first
// five kinds fails the operation with a *HookError ("hooks.createRuntime[0]
// /path: exit status 3: <output tail>"), wrapping ErrHookTimeout for a
// timeout; init reports its own hooks' failures as JSON, so the caller
// gets a *HookError either way. As the runtime-spec lifecycle (1.3, steps
// 3 to 9) asks, and as runc does, the container is then stopped and
// destroyed, leaving nothing behind, and the poststop hooks run. Poststart
// included: older runtime-spec texts made a poststart failure a warning.
// For startContainer and poststart, Start waits until init has execed or
// failed: it keeps a read end of exec.fifo, waits until init has taken
// the byte, closes its write end, and reads until end-of-file (init's
// O_RDWR fd is close-on-exec, so end-of-file comes with the exec or
// init's exit); what it read is init's error. Start only waits when there
// are such hooks, and holds the container's lock meanwhile; a hook
// without a timeout may block it. A poststop failure does not change the
// lifecycle: every poststop hook runs, and each failure goes to the
// WithWarnFunc callback (lamina logs it as a warning).
//
// # Seccomp
//
// linux.seccomp is compiled with libseccomp (github.com/seccomp/
// libseccomp-golang, cgo; libseccomp-dev to build), as runc and crun do:
// it knows every architecture's syscall table and the multiplexed calls,
// which a hand-made BPF builder would have to redo. Validate checks the
// names first (actions, operators, architectures this libseccomp can
// filter on this host, flags, argument indexes, errnoRet only with
// SCMP_ACT_ERRNO or SCMP_ACT_TRACE and at most 4095, the kernel's
// largest errno); SCMP_ACT_NOTIFY and listenerPath wrap
// ErrUnsupported. SCMP_ACT_KILL is the thread kill, as in runc; ERRNO and
// TRACE return EPERM unless errnoRet says otherwise. Syscall names this
// libseccomp does not know are skipped (profiles list newer kernels'
// calls), a rule with the default action is dropped, conditions on
// distinct arguments are ANDed and several on one argument become
// separate rules (as runc). The filter's own no_new_privs attribute is
// off: process.noNewPrivileges decides. SECCOMP_FILTER_FLAG_TSYNC is
// always in effect (the binding sets it); _LOG and _SPEC_ALLOW are
// honoured; any other flag is rejected.
//
// Init compiles the filter before its reply to Create, so that a problem
// fails Create, and loads it as late as it can: just before the exec,
// after the startContainer hooks, when no_new_privs is set or the
// effective capabilities keep CAP_SYS_ADMIN. Otherwise loading needs the
// CAP_SYS_ADMIN init has as root, so the filter is loaded right before
// the user switch, and the rest of init (setgroups, setresuid, capset,
// prctl, chdir, close_range, the fifo wait, the startContainer hooks,
// execve) runs under it, as in runc; docker's default profile allows all
// of that.
//
// # Cgroups
//
// An empty linux.cgroupsPath means the relative path ID. Relative paths
// are below the caller's own cgroup in each hierarchy, absolute ones below
// the hierarchy root (both as runc without systemd). On this kind of
// hybrid host the v1 manager also joins the empty v2 hierarchy at
// /sys/fs/cgroup/unified. Memory (limit, reservation, swap, swappiness,
// OOM killer), CPU (shares, quota, period, cpus, mems), pids and the blkio
// weight are translated; other resource settings are rejected. The device
// cgroup (v1 devices controller, v2 eBPF program) gets linux.resources.devices
// in order, then allow rules for creating any node and for the devices every
// container has (see devices.go), as runc's; rootless it is not programmed.
//
// # Terminal
//
// With process.terminal the container's stdio is a pty of its own, as
// with runc; Create then needs a console socket (WithConsoleSocket, a
// path Create connects to from the host, runc's --console-socket; or
// WithConsole, an already connected socket such as one end of
// ConsolePair), and a console socket without process.terminal is an
// error too (ErrNoConsoleSocket, ErrNoTerminal, as *ConfigError on
// "process.terminal"). Init gets /dev/null as stdio (WithStdio is not
// used) and, after the root switch and before finishRootfs:
//
//   - opens the container's /dev/ptmx, unlocks it and reads the slave's
//     number (/dev/pts/N);
//   - applies process.consoleSize (TIOCSWINSZ) when both fields are set;
//   - bind-mounts the slave on /dev/console (runtime-spec);
//   - sends the master in one sendmsg on the console socket: the data is
//     the bytes "/dev/ptmx", the control message one fd in SCM_RIGHTS
//     (what runc sends and runc's recvtty, containerd's shim and conmon
//     read), then closes its copy of the master and the socket;
//   - gives the slave to process.user.uid, makes it its controlling
//     terminal (TIOCSCTTY; init is a session leader) and dups it onto
//     fds 0, 1 and 2.
//
// The receiving side is ReceiveConsole (it checks that the fd is a pty
// master and makes it non-blocking); RelayConsole copies it to and from
// the caller's stdio, with raw mode and SIGWINCH resizing when the
// caller's stdin is a terminal. "lamina run" in the foreground and
// "lamina run -t IMAGE" use both over a ConsolePair.
//
// # Not implemented yet
//
// Seccomp notify (SCMP_ACT_NOTIFY,
// listenerPath) and the ENOSYS answer runc adds for syscalls newer than the
// profile, systemd cgroups, id-mapped mounts, AppArmor and SELinux labels
// (accepted and not applied), checkpoint and restore (CRIU; podman
// checkpoint reports that the runtime does not support it).
//
// # Introspection
//
// Features reports what this runtime implements, built from the same tables
// Validate and the rootfs setup use, so it cannot drift from them (the
// "lamina features" JSON). Runtime.Pids lists the host pids in a running
// container's cgroup, sub-cgroups included ("lamina ps ID"). ParseSignal
// reads a signal as runc's kill and an image's StopSignal spell it.
package runtime
