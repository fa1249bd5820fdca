package runtime

import (
	"encoding/json"
	"fmt"
	"os"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// execConfig is what Exec sends to the process it started in the
// container's namespaces (inside initConfig).
type execConfig struct {
	Process *specs.Process `json:"process"`
	// RootFD is an O_PATH fd on the container init's root directory
	// (/proc/PID/root), opened by the parent.
	RootFD int `json:"rootFD"`
	// Seccomp is the container's linux.seccomp, applied to the process
	// as Create applies it to init.
	Seccomp *specs.LinuxSeccomp `json:"seccomp,omitempty"`
}

// execInside is the container side of Exec, running in the container's
// namespaces and cgroups (the nsenter constructor put it there): it
// switches to the init's root, applies the process settings and execs.
// The sync socket is close-on-exec, so the parent sees EOF on success and
// an initReply with the error otherwise.
func execInside(sock *os.File, ic *initConfig) error {
	p := ic.Exec.Process
	argv0, filter, err := execSetup(ic.Exec, ic.PreserveFDs, ic.ConsoleFD)
	if err == nil && filter != nil {
		if err = filter.Load(); err != nil {
			err = fmt.Errorf("linux.seccomp: load filter: %w", err)
		}
	}
	if err == nil {
		err = execWithRlimits(argv0, p.Args, p.Env, p.Rlimits)
	}
	json.NewEncoder(sock).Encode(&initReply{Error: err.Error()})
	return err
}

// execSetup makes the process non-dumpable (CVE-2019-5736, as init),
// changes its root to the init's (setns into the mount namespace sets the
// root to the namespace's root, which is not the container's after
// --no-pivot), sets up its terminal in terminal mode and applies the
// process settings (see applyProcess).
func execSetup(ec *execConfig, preserveFDs, consoleFD int) (string, *libseccomp.ScmpFilter, error) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return "", nil, fmt.Errorf("set non-dumpable: %w", err)
	}
	last := lastCap()
	if err := unix.Fchdir(ec.RootFD); err != nil {
		return "", nil, fmt.Errorf("enter container root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return "", nil, fmt.Errorf("chroot into container root: %w", err)
	}
	unix.Close(ec.RootFD)
	if ec.Process.Terminal {
		// A session of its own, to take the pty as its controlling
		// terminal (the constructor's fork made it no group leader).
		if _, err := unix.Setsid(); err != nil {
			return "", nil, fmt.Errorf("start session: %w", err)
		}
		if err := setupTerminal(consoleFD, ec.Process, false); err != nil {
			return "", nil, err
		}
	}
	return applyProcess(ec.Process, ec.Seccomp, preserveFDs, last)
}
