package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ErrNoIDMapHelper: an unprivileged caller asked for id mappings that only
// the setuid helpers newuidmap and newgidmap (package uidmap) may write,
// and the helper is not installed.
var ErrNoIDMapHelper = errors.New("newuidmap/newgidmap not found (install the uidmap package)")

// writeIDMaps writes the uid and gid maps of the new user namespace of
// pid. Root writes /proc/PID/{uid,gid}_map itself, and keeps setgroups so
// additionalGids work. An unprivileged caller may only map its own id, once
// setgroups is denied; any other mapping (several ranges, the subordinate
// ids of /etc/subuid and /etc/subgid) goes through newuidmap and
// newgidmap, which check it against those files, as runc and podman do.
func writeIDMaps(pid int, l *specs.Linux) error {
	root := os.Geteuid() == 0
	uidHelper := !root && !selfMapping(l.UIDMappings, os.Geteuid())
	gidHelper := !root && !selfMapping(l.GIDMappings, os.Getegid())
	if err := writeIDMap(pid, "uid", "linux.uidMappings", l.UIDMappings, uidHelper); err != nil {
		return err
	}
	// Without newgidmap, an unprivileged writer must deny setgroups
	// first; newgidmap decides that itself.
	if !root && !gidHelper {
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/setgroups", pid), []byte("deny"), 0); err != nil {
			return fmt.Errorf("write setgroups: %w", err)
		}
	}
	return writeIDMap(pid, "gid", "linux.gidMappings", l.GIDMappings, gidHelper)
}

// selfMapping reports whether ms maps exactly one id, the caller's own:
// the one mapping an unprivileged process may write itself.
func selfMapping(ms []specs.LinuxIDMapping, own int) bool {
	return len(ms) == 1 && ms[0].Size == 1 && int(ms[0].HostID) == own
}

// writeIDMap writes one map of pid ("uid" or "gid"), by itself or through
// the setuid helper newuidmap/newgidmap. field names the config field in
// errors.
func writeIDMap(pid int, kind, field string, ms []specs.LinuxIDMapping, helper bool) error {
	if !helper {
		var b strings.Builder
		for _, m := range ms {
			fmt.Fprintf(&b, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/%s_map", pid, kind), []byte(b.String()), 0); err != nil {
			return fmt.Errorf("write %s_map: %w", kind, err)
		}
		return nil
	}
	prog, err := exec.LookPath("new" + kind + "map")
	if err != nil {
		return &ConfigError{Field: field, Err: fmt.Errorf("map other ids than your own: %w", ErrNoIDMapHelper)}
	}
	args := []string{strconv.Itoa(pid)}
	for _, m := range ms {
		args = append(args, strconv.FormatUint(uint64(m.ContainerID), 10), strconv.FormatUint(uint64(m.HostID), 10), strconv.FormatUint(uint64(m.Size), 10))
	}
	var out bytes.Buffer
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		return &ConfigError{Field: field, Err: fmt.Errorf("%s %s: %w: %s", prog, strings.Join(args, " "), err, msg)}
	}
	return nil
}
