package runtime

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// openNamespace opens a namespace file (linux.namespaces[i].path) and
// checks with the NS_GET_NSTYPE ioctl that it is a namespace of type t.
// Errors are *ConfigError on field.
func openNamespace(field, path string, t specs.LinuxNamespaceType) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &ConfigError{Field: field, Err: err}
	}
	typ, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
	if err != nil {
		f.Close()
		return nil, configErrorf(field, "%s is not a namespace: %v", path, err)
	}
	if uintptr(typ) != namespaceFlags[t] {
		f.Close()
		return nil, configErrorf(field, "%s is not a %s namespace", path, t)
	}
	return f, nil
}

// validateNamespacePaths checks every linux.namespaces[i].path and the
// time offsets against the namespaces.
func validateNamespacePaths(l *specs.Linux) error {
	var timeNS *specs.LinuxNamespace
	for i, ns := range l.Namespaces {
		if ns.Type == specs.TimeNamespace {
			timeNS = &l.Namespaces[i]
		}
		if ns.Path == "" {
			continue
		}
		f := fmt.Sprintf("linux.namespaces[%d].path", i)
		nf, err := openNamespace(f, ns.Path, ns.Type)
		if err != nil {
			return err
		}
		nf.Close()
		if ns.Type == specs.UserNamespace && len(l.UIDMappings)+len(l.GIDMappings) > 0 {
			return configErrorf("linux.uidMappings", "must be empty when joining the user namespace %s", ns.Path)
		}
	}
	if len(l.TimeOffsets) > 0 {
		if timeNS == nil || timeNS.Path != "" {
			return configErrorf("linux.timeOffsets", "needs a new time namespace (linux.namespaces type \"time\" without a path)")
		}
		for clock := range l.TimeOffsets {
			if clock != "monotonic" && clock != "boottime" {
				return configErrorf("linux.timeOffsets", "unknown clock %q (want monotonic or boottime)", clock)
			}
		}
	}
	return nil
}

// joinsNamespace reports whether l joins an existing namespace of type t.
func joinsNamespace(l *specs.Linux, t specs.LinuxNamespaceType) bool {
	for _, ns := range l.Namespaces {
		if ns.Type == t && ns.Path != "" {
			return true
		}
	}
	return false
}

// needsEnter reports whether init must be started through the nsenter
// constructor: to join a namespace by path; to make a time namespace (its
// offsets must be written before any process is in it); or to make a user
// namespace: a process keeps the capabilities it has in a new user
// namespace across fork, but loses them at execve unless its uid is mapped
// to 0 there, so init, re-executed with Cloneflags, could not set up a
// container whose mappings leave the caller's uid out (root creating
// 0 -> 100000).
func needsEnter(s *specs.Spec) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Path != "" || ns.Type == specs.TimeNamespace || ns.Type == specs.UserNamespace {
			return true
		}
	}
	return false
}

// createPlan is the nsenter plan for a container init: join the
// namespaces with a path (the user namespace first), then unshare the new
// ones but cgroup (init unshares it once in its cgroup) and time (made
// with its offsets). The caller closes the returned files.
func createPlan(s *specs.Spec) (*enterPlan, error) {
	plan := &enterPlan{}
	nss := append([]specs.LinuxNamespace(nil), s.Linux.Namespaces...)
	sort.SliceStable(nss, func(i, j int) bool { return nss[i].Type == specs.UserNamespace && nss[j].Type != specs.UserNamespace })
	for _, ns := range nss {
		switch {
		case ns.Path != "":
			f, err := openNamespace("linux.namespaces.path", ns.Path, ns.Type)
			if err != nil {
				closeFiles(plan.join)
				return nil, err
			}
			plan.join = append(plan.join, f)
		case ns.Type == specs.TimeNamespace:
			offsets := timeOffsets(s.Linux.TimeOffsets)
			plan.timeNS = &offsets
		case ns.Type != specs.CgroupNamespace:
			plan.unshare |= namespaceFlags[ns.Type]
		}
	}
	if plan.unshare&unix.CLONE_NEWUSER != 0 {
		plan.idmap = func(pid int) error { return writeIDMaps(pid, s.Linux) }
	}
	plan.join = joinOrder(plan.join)
	return plan, nil
}

// timeOffsets is the /proc/PID/timens_offsets text for offsets, one
// "CLOCK SECS NANOS" line per clock, sorted.
func timeOffsets(offsets map[string]specs.LinuxTimeOffset) string {
	var b strings.Builder
	clocks := make([]string, 0, len(offsets))
	for c := range offsets {
		clocks = append(clocks, c)
	}
	sort.Strings(clocks)
	for _, c := range clocks {
		fmt.Fprintf(&b, "%s %d %d\n", c, offsets[c].Secs, offsets[c].Nanosecs)
	}
	return b.String()
}

// joinOrder orders namespace fds for the constructor. The user namespace
// comes first, so that the process has its capabilities over the
// namespaces it owns; but a namespace it does not own (a network
// namespace made by the host for a container with its own user namespace,
// as CNI does) must be joined before it, while the process still has the
// host's capabilities, or setns fails with EPERM. The relative order is
// kept otherwise. Errors of the ioctls leave the order as it is.
func joinOrder(join []*os.File) []*os.File {
	user := slices.IndexFunc(join, func(f *os.File) bool {
		t, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_NSTYPE)
		return err == nil && t == unix.CLONE_NEWUSER
	})
	if user < 0 {
		return join
	}
	var userSt unix.Stat_t
	if unix.Fstat(int(join[user].Fd()), &userSt) != nil {
		return join
	}
	owned := func(f *os.File) bool {
		fd, err := unix.IoctlRetInt(int(f.Fd()), unix.NS_GET_USERNS)
		if err != nil {
			return true
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		return unix.Fstat(fd, &st) != nil || st.Dev == userSt.Dev && st.Ino == userSt.Ino
	}
	var before, after []*os.File
	for i, f := range join {
		switch {
		case i == user:
		case owned(f):
			after = append(after, f)
		default:
			before = append(before, f)
		}
	}
	return append(append(before, join[user]), after...)
}
