package runtime

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// execConfig is what Exec sends to the process it started in the
// container's namespaces (inside initConfig).
type execConfig struct {
	Process *specs.Process `json:"process"`
	// RootFD is an O_PATH fd on the container init's root directory
	// (/proc/PID/root), opened by the parent.
	RootFD int `json:"rootFD"`
}

// execInside is the container side of Exec, running in the container's
// namespaces and cgroups (the nsenter constructor put it there): it
// switches to the init's root, applies the process settings and execs.
// The sync socket is close-on-exec, so the parent sees EOF on success and
// an initReply with the error otherwise.
func execInside(sock *os.File, ic *initConfig) error {
	p := ic.Exec.Process
	argv0, err := execSetup(ic.Exec, ic.PreserveFDs)
	if err == nil {
		// linux.seccomp: loadSeccomp(spec.Linux.Seccomp) belongs here,
		// the last step before the exec (after no_new_privs). Until
		// then Exec refuses containers whose config has linux.seccomp.
		err = syscall.Exec(argv0, p.Args, p.Env)
		err = fmt.Errorf("exec %s: %w", argv0, err)
	}
	json.NewEncoder(sock).Encode(&initReply{Error: err.Error()})
	return err
}

// execSetup makes the process non-dumpable (CVE-2019-5736, as init),
// changes its root to the init's (setns into the mount namespace sets the
// root to the namespace's root, which is not the container's after
// --no-pivot) and applies the process settings.
func execSetup(ec *execConfig, preserveFDs int) (string, error) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return "", fmt.Errorf("set non-dumpable: %w", err)
	}
	last := lastCap()
	if err := unix.Fchdir(ec.RootFD); err != nil {
		return "", fmt.Errorf("enter container root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return "", fmt.Errorf("chroot into container root: %w", err)
	}
	unix.Close(ec.RootFD)
	return applyProcess(ec.Process, preserveFDs, last)
}
