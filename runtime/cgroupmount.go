package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// A "cgroup" mount of config.json is done one of two ways.
//
// With a cgroup namespace (init unshared it once in its cgroup, so that
// cgroup is the namespace's root), mountCgroupNS mounts the hierarchies
// afresh: cgroup2 on a unified host, otherwise a tmpfs holding one mount
// per hierarchy of the host.
//
// Without one (podman and docker on v1 and hybrid hosts use the host's
// cgroup namespace), a fresh mount would show the whole host tree, so
// mountCgroupBinds does what runc does: it bind-mounts the container's own
// cgroup directories (init is already in them). On a unified host that is
// one bind of the container's directory of the cgroup2 hierarchy at the
// destination. On a v1 or hybrid host the destination gets a tmpfs
// (nosuid, nodev, noexec, mode=755, then given the mode of the directory
// it covers, as runc does) holding, for each v1 hierarchy (fstype cgroup;
// the hybrid host's cgroup2 is left out, as in runc), a bind of the
// container's directory named after the hierarchy's mount point ("cpu",
// "cpu,cpuacct", "systemd"), and for each co-mounted controller a symlink
// to it ("cpu" -> "cpu,cpuacct"). The binds take the mount's flags (ro,
// nosuid, ...); with "ro" the tmpfs (either way) is made read-only too,
// once every config mount is done (see mountOne; runc leaves it
// read-write). A "cgroup2" mount without a cgroup namespace is the
// bind of the container's cgroup2 directory alone, on any host.

// cgroupBind is one bind mount of a container's own cgroup directory:
// Source on the host, Name relative to the cgroup mount's destination
// ("" for the destination itself).
type cgroupBind struct {
	Source string
	Name   string
}

// cgroupBindPlan returns the binds that show a process, whose
// /proc/self/cgroup is own (as cgroups.ParseCgroupFile reads it:
// controller, "name=systemd" or "" for v2, to the cgroup path), its own
// cgroups, given the host's cgroup mounts. unified says the host is
// cgroup v2 only: the plan is then one bind of the cgroup2 directory at
// the destination itself. Otherwise there is one bind per v1 hierarchy,
// the first mount of each, and links maps each co-mounted controller to
// the bind's name that holds it.
func cgroupBindPlan(mounts []*mountinfo.Info, own map[string]string, unified bool) (binds []cgroupBind, links map[string]string, err error) {
	if unified {
		for _, m := range mounts {
			if m.FSType != "cgroup2" {
				continue
			}
			path, ok := own[""]
			if !ok {
				return nil, nil, errors.New("find own cgroup: no cgroup2 entry in /proc/self/cgroup")
			}
			src, err := cgroupSource(m, path)
			if err != nil {
				return nil, nil, err
			}
			return []cgroupBind{{Source: src}}, nil, nil
		}
		return nil, nil, errors.New("find cgroup2 mount: none in mountinfo")
	}
	seen := map[string]bool{}
	links = map[string]string{}
	for _, m := range mounts {
		if m.FSType != "cgroup" {
			continue
		}
		var subsystems []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			if _, ok := own[o]; ok && o != "" {
				subsystems = append(subsystems, o)
			}
		}
		if len(subsystems) == 0 || seen[subsystems[0]] {
			// Not a hierarchy this process is in, or one already bound
			// (a hierarchy mounted twice).
			continue
		}
		for _, s := range subsystems {
			seen[s] = true
		}
		src, err := cgroupSource(m, own[subsystems[0]])
		if err != nil {
			return nil, nil, err
		}
		name := filepath.Base(m.Mountpoint)
		binds = append(binds, cgroupBind{Source: src, Name: name})
		if strings.Contains(name, ",") {
			for _, c := range strings.Split(name, ",") {
				links[c] = name
			}
		}
	}
	if len(binds) == 0 {
		return nil, nil, errors.New("find cgroup v1 hierarchies: none in mountinfo matches /proc/self/cgroup")
	}
	return binds, links, nil
}

// cgroupSource is the host directory of cgroup path in the hierarchy
// mounted at m (whose root may itself be a cgroup below the hierarchy's).
func cgroupSource(m *mountinfo.Info, path string) (string, error) {
	rel, err := filepath.Rel(m.Root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("find own cgroup: %s is outside the root %s of the mount at %s", path, m.Root, m.Mountpoint)
	}
	return filepath.Join(m.Mountpoint, rel), nil
}

// mountCgroup mounts the cgroup hierarchies at dest (see above).
func mountCgroup(dest string, flags uintptr, cgroupns bool) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	if cgroupns {
		return mountCgroupNS(dest, flags)
	}
	return mountCgroupBinds(dest, flags, hostUnified())
}

// hostUnified reports whether the host is cgroup v2 only.
func hostUnified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

func cgroupMounts() ([]*mountinfo.Info, error) {
	return mountinfo.GetMounts(func(i *mountinfo.Info) (skip, stop bool) {
		return i.FSType != "cgroup" && i.FSType != "cgroup2", false
	})
}

func mountCgroupNS(dest string, flags uintptr) error {
	if hostUnified() {
		return mount("cgroup2", dest, "cgroup2", flags, "")
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return err
	}
	if err := mount("tmpfs", dest, "tmpfs", flags&^unix.MS_RDONLY, "mode=755"); err != nil {
		return err
	}
	for _, m := range mounts {
		sub := filepath.Join(dest, filepath.Base(m.Mountpoint))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		var opts []string
		for _, o := range strings.Split(m.VFSOptions, ",") {
			if o != "rw" && o != "ro" && o != "" {
				opts = append(opts, o)
			}
		}
		if err := mount("cgroup", sub, m.FSType, flags, strings.Join(opts, ",")); err != nil {
			return err
		}
	}
	return nil
}

// mountCgroupBinds does the binds of cgroupBindPlan at dest; unified
// asks for the cgroup2 hierarchy alone (a unified host, or a "cgroup2"
// mount without a cgroup namespace).
func mountCgroupBinds(dest string, flags uintptr, unified bool) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	own, err := cgroups.ParseCgroupFile("/proc/self/cgroup")
	if err != nil {
		return fmt.Errorf("read own cgroups: %w", err)
	}
	binds, links, err := cgroupBindPlan(mounts, own, unified)
	if err != nil {
		return err
	}
	bindFlags := flags &^ (unix.MS_BIND | unix.MS_REC)
	if unified {
		return bindMount(binds[0].Source, dest, unix.MS_REC|bindFlags)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		return err
	}
	tmpfsFlags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	if err := mount("tmpfs", dest, "tmpfs", tmpfsFlags, "mode=755"); err != nil {
		return err
	}
	if err := os.Chmod(dest, fi.Mode().Perm()); err != nil {
		return err
	}
	for _, b := range binds {
		sub := filepath.Join(dest, b.Name)
		if err := os.Mkdir(sub, 0o755); err != nil {
			return err
		}
		if err := bindMount(b.Source, sub, unix.MS_REC|bindFlags); err != nil {
			return err
		}
	}
	for c, name := range links {
		if err := os.Symlink(name, filepath.Join(dest, c)); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}
