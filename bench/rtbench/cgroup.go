package rtbench

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// unifiedDir is where a hybrid host mounts its cgroup v2 hierarchy.
const unifiedDir = "/sys/fs/cgroup/unified"

// IsHybrid reports whether this host is a hybrid cgroup host: v1
// controllers under /sys/fs/cgroup (a tmpfs) and a v2 hierarchy at
// /sys/fs/cgroup/unified.
func IsHybrid() bool {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type != unix.TMPFS_MAGIC {
		return false
	}
	return unix.Statfs(unifiedDir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// MountNamespace returns this process's mount namespace ("mnt:[N]").
func MountNamespace() (string, error) {
	ns, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return "", fmt.Errorf("read mount namespace: %w", err)
	}
	return ns, nil
}

// HideUnified detaches /sys/fs/cgroup/unified from this process's mount
// namespace, which must be a private one (the caller re-executes itself
// with CLONE_NEWNS; Go's os/exec makes the new namespace's mounts private).
// It refuses to act in parentNS, the caller's (MountNamespace before the
// re-exec), where it would change the host. It returns a line describing
// the cgroup setup for the report.
func HideUnified(parentNS string) (string, error) {
	self, err := MountNamespace()
	if err != nil {
		return "", err
	}
	if self == parentNS {
		return "", fmt.Errorf("hide %s: refusing to unmount it in the parent's mount namespace %s", unifiedDir, self)
	}
	ctrls, _ := os.ReadFile(unifiedDir + "/cgroup.controllers")
	if err := unix.Unmount(unifiedDir, unix.MNT_DETACH); err != nil {
		return "", fmt.Errorf("hide %s: %w", unifiedDir, err)
	}
	return fmt.Sprintf("hybrid host (v2 controllers: %q); every runtime ran in a private mount namespace with %s detached, so all used cgroupfs on the v1 controllers",
		strings.TrimSpace(string(ctrls)), unifiedDir), nil
}
