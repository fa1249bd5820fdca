package runtime

import (
	"fmt"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// process.rlimits are set in two steps, so that the runtime's own code in
// the container (init or an exec'd process: a Go program with a large
// address space, cgo's malloc, libseccomp, hooks it starts) never runs
// under the container's limits: an RLIMIT_AS of 1 GiB is below the
// virtual size of init, and an RLIMIT_NOFILE or RLIMIT_NPROC of a few
// would stop it from opening files or starting hooks.
//
//   - raiseRlimits, early and still privileged, raises each hard limit
//     that is below the asked one (that needs CAP_SYS_RESOURCE, which the
//     user switch may drop) and changes nothing else;
//   - execWithRlimits, just before the exec, sets every asked soft and
//     hard limit (lowering a hard limit and setting a soft one within it
//     need no privilege) and execs.
//
// syscall.Setrlimit also tells the Go runtime not to restore its own
// RLIMIT_NOFILE at the exec (Go raises the soft limit at start).

// raiseRlimits raises every hard limit that is below the one asked for.
func raiseRlimits(rls []specs.POSIXRlimit) error {
	for _, rl := range rls {
		n, _ := rlimitNumber(rl.Type)
		var cur syscall.Rlimit
		if err := syscall.Getrlimit(n, &cur); err != nil {
			return fmt.Errorf("process.rlimits %s: get: %w", rl.Type, err)
		}
		if cur.Max >= rl.Hard {
			continue
		}
		if err := syscall.Setrlimit(n, &syscall.Rlimit{Cur: cur.Cur, Max: rl.Hard}); err != nil {
			return fmt.Errorf("process.rlimits %s: raise hard limit to %d: %w", rl.Type, rl.Hard, err)
		}
	}
	return nil
}

// execWithRlimits sets rls and execs argv0. It returns only on error.
// Nothing is allocated between the limits and the exec: under an
// RLIMIT_AS below the Go runtime's virtual size, growing the heap fails
// ("fatal error: runtime: out of memory"), and syscall.Exec allocates the
// C strings, so the exec is a raw execve of arrays built beforehand.
func execWithRlimits(argv0 string, argv, env []string, rls []specs.POSIXRlimit) error {
	argv0p, err := syscall.BytePtrFromString(argv0)
	if err != nil {
		return fmt.Errorf("exec %s: %w", argv0, err)
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return fmt.Errorf("exec %s: %w", argv0, err)
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return fmt.Errorf("exec %s: %w", argv0, err)
	}
	for _, rl := range rls {
		n, _ := rlimitNumber(rl.Type)
		if err := syscall.Setrlimit(n, &syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard}); err != nil {
			return fmt.Errorf("process.rlimits %s=%d:%d: %w", rl.Type, rl.Soft, rl.Hard, err)
		}
	}
	_, _, errno := syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(argv0p)),
		uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0])))
	return fmt.Errorf("exec %s: %w", argv0, errno)
}
