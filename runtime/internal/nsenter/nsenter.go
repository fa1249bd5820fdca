//go:build cgo

// Package nsenter moves a freshly started copy of the runtime binary into
// existing namespaces, and into new ones that must be set up before any
// process enters them, before the Go runtime starts. It is imported for
// its side effect: a C constructor that runs before main.
//
// # Why a constructor
//
// A Go process has several threads before main runs. The kernel refuses
// setns(2) into a user or mount namespace and unshare(CLONE_NEWUSER) for a
// multithreaded process, so a Go program cannot do them itself. A C
// function marked __attribute__((constructor)) runs while the process is
// still single-threaded.
//
// # Protocol
//
// The constructor does nothing unless the environment variable
// _LAMINA_NSENTER is set; its value is the number of an inherited
// AF_UNIX stream socket to the parent (the runtime). Then:
//
//  1. It makes the process non-dumpable (so that no process in the
//     container can open /proc/PID/exe, the runtime binary, of it or of
//     its child: the CVE-2019-5736 class; the final execve resets it),
//     then reads one byte 'g' from the socket. Before sending it the parent
//     moves this process into the container's cgroups, so that
//     everything forked below inherits them.
//  2. _LAMINA_NSENTER_JOIN (optional): a comma-separated list of
//     inherited namespace fds ("7,8,9"). It calls setns(fd, 0) on each in
//     the order given and closes it. The parent puts the user namespace
//     first: joining it gives the full capability set in it, which an
//     unprivileged caller needs to join the namespaces it owns; but the
//     namespaces it does not own (a host-made network namespace) before
//     it, while the host's capabilities still hold; and the mount
//     namespace last, as the fds were opened from the host's view.
//     The parent leaves out namespaces this process is already in (setns
//     into one's own user namespace fails with EINVAL). After joining a
//     user namespace (NS_GET_NSTYPE tells), it switches to uid and gid 0
//     there, as after making one (step 3).
//  3. _LAMINA_NSENTER_UNSHARE (optional): decimal clone flags passed to
//     unshare(2) after the joins, so new namespaces are owned by a joined
//     user namespace. With CLONE_NEWUSER it writes "idmap\n" and waits for
//     another 'g': the parent writes uid_map and gid_map meanwhile (the
//     process is dumpable just for that: the /proc files of a
//     non-dumpable process belong to root, which an unprivileged parent
//     is not; no container process can reach it then). Then
//     it switches to uid and gid 0 of the namespace (with no supplementary
//     groups where setgroups is allowed): its host ids may be unmapped
//     there, and the kernel refuses to create files owned by unmapped ids.
//  4. _LAMINA_NSENTER_TIMENS (optional): unshare(CLONE_NEWTIME) and write
//     the variable's value, lines of "monotonic|boottime SECS NANOS", to
//     /proc/self/timens_offsets. Offsets can only be written while no
//     process is in the new namespace, so this must precede the fork.
//  5. It forks with CLONE_PARENT: the child's parent is the runtime, which
//     waits for it; setns and unshare of pid and time namespaces only
//     affect children. It writes "pid N\n" (N as the runtime sees it) and
//     exits 0. The child returns from the constructor and the Go runtime
//     starts in the namespaces; the runtime's init code then talks to the
//     parent over the same socket.
//
// On any failure it writes "error WHAT: STRERROR\n" and exits 1 before
// forking, so nothing is left running. Nothing is written to disk except
// /proc/self/timens_offsets (and uid_map and gid_map, by the parent).
package nsenter

import "C"

// Enabled reports whether the constructor is linked in (it needs cgo).
const Enabled = true
