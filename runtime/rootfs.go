package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountFlags maps fstab-style options to mount(2) flags: set or cleared.
var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"defaults": {false, 0}, "ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"suid": {true, unix.MS_NOSUID}, "nosuid": {false, unix.MS_NOSUID},
	"dev": {true, unix.MS_NODEV}, "nodev": {false, unix.MS_NODEV},
	"exec": {true, unix.MS_NOEXEC}, "noexec": {false, unix.MS_NOEXEC},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"dirsync": {false, unix.MS_DIRSYNC}, "remount": {false, unix.MS_REMOUNT},
	"mand": {false, unix.MS_MANDLOCK}, "nomand": {true, unix.MS_MANDLOCK},
	"atime": {true, unix.MS_NOATIME}, "noatime": {false, unix.MS_NOATIME},
	"diratime": {true, unix.MS_NODIRATIME}, "nodiratime": {false, unix.MS_NODIRATIME},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"relatime": {false, unix.MS_RELATIME}, "norelatime": {true, unix.MS_RELATIME},
	"strictatime": {false, unix.MS_STRICTATIME}, "nostrictatime": {true, unix.MS_STRICTATIME},
	"silent": {false, unix.MS_SILENT}, "loud": {true, unix.MS_SILENT},
}

var propagationFlags = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// parseMountOptions splits options into mount flags, propagation changes
// and the data string (every option that is not a flag or tmpcopyup).
func parseMountOptions(opts []string) (flags uintptr, prop []uintptr, data string) {
	var d []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
		} else if p, ok := propagationFlags[o]; ok {
			prop = append(prop, p)
		} else if o == optTmpcopyup {
			// An extension of the runtime (see mountOne), not data.
		} else {
			d = append(d, o)
		}
	}
	return flags, prop, strings.Join(d, ",")
}

func mount(src, dst, fstype string, flags uintptr, data string) error {
	if err := unix.Mount(src, dst, fstype, flags, data); err != nil {
		return &os.PathError{Op: "mount " + fstype + " " + src, Path: dst, Err: err}
	}
	return nil
}

// lockedFlags returns the flags of the mount at path that a bind remount
// must repeat (in a user namespace the kernel refuses to clear them).
func lockedFlags(path string) uintptr {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return 0
	}
	var f uintptr
	for _, m := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st.Flags)&m.st != 0 {
			f |= m.ms
		}
	}
	return f
}

// prepareRootfs does every mount of the container inside the new mount
// namespace, before the root switch: the propagation of /, the rootfs
// bind mount, config mounts, and /dev.
//
// In a joined mount namespace (shared is set) the namespace's other
// processes keep their view: / and the rootfs's parent keep their
// propagation, and the rootfs bind is made private at once, so that the
// container's own mounts, made below it, stay out of their sight.
func prepareRootfs(s *specs.Spec, rootfs string, userns, shared bool) error {
	if !shared {
		// / takes linux.rootfsPropagation now (so that bind mounts of
		// shared host mounts stay in their peer groups), except an
		// unbindable one, which would refuse the rootfs bind below: that
		// one, like the default, starts as rslave. applyRootPropagation
		// sets the asked propagation on the new root after the switch.
		prop := uintptr(unix.MS_SLAVE | unix.MS_REC)
		if p := s.Linux.RootfsPropagation; p != "" && propagationFlags[p]&unix.MS_UNBINDABLE == 0 {
			prop = propagationFlags[p]
		}
		if err := mount("", "/", "", prop, ""); err != nil {
			return fmt.Errorf("set propagation of /: %w", err)
		}
		if err := privateParentMount(rootfs); err != nil {
			return err
		}
	}
	if err := mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind rootfs: %w", err)
	}
	if shared {
		if err := mount("", rootfs, "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("make the rootfs bind private: %w", err)
		}
	}
	devBound := false
	cgroupns := hasNamespace(s, specs.CgroupNamespace)
	var readonly []int
	for i, m := range s.Mounts {
		ro, err := mountOne(rootfs, m, userns, cgroupns)
		if err != nil {
			return fmt.Errorf("mounts[%d] (%s): %w", i, m.Destination, err)
		}
		if ro {
			readonly = append(readonly, i)
		}
		if filepath.Clean(m.Destination) == "/dev" && m.Type == "bind" {
			devBound = true
		}
	}
	if !devBound {
		if err := setupDev(rootfs, s.Linux.Devices, userns); err != nil {
			return fmt.Errorf("set up /dev: %w", err)
		}
	}
	for _, i := range readonly {
		dest, err := securejoin.SecureJoin(rootfs, s.Mounts[i].Destination)
		if err != nil {
			return fmt.Errorf("mounts[%d] (%s): %w", i, s.Mounts[i].Destination, err)
		}
		if err := mount("", dest, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|lockedFlags(dest), ""); err != nil {
			return fmt.Errorf("mounts[%d] (%s): make read-only: %w", i, s.Mounts[i].Destination, err)
		}
	}
	return nil
}

// privateParentMount makes the mount that holds rootfs private when it is
// shared (as runc does): pivot_root refuses a new root whose parent mount
// is shared (EINVAL), and the rootfs bind mount would otherwise propagate
// to the host's peer group.
func privateParentMount(rootfs string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.ParentsFilter(rootfs))
	if err != nil {
		return fmt.Errorf("read mountinfo: %w", err)
	}
	var parent *mountinfo.Info
	for _, m := range mounts {
		if parent == nil || len(m.Mountpoint) > len(parent.Mountpoint) {
			parent = m
		}
	}
	if parent == nil || !strings.Contains(parent.Optional, "shared:") {
		return nil
	}
	if err := mount("", parent.Mountpoint, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make the rootfs's parent mount private: %w", err)
	}
	return nil
}

// applyRootPropagation sets linux.rootfsPropagation on the container's
// root mount, after the root switch: "shared" makes it a peer group of
// its own that bind mounts of / inside the container join, "unbindable"
// makes a bind of / fail.
func applyRootPropagation(s *specs.Spec) error {
	p := s.Linux.RootfsPropagation
	if p == "" {
		return nil
	}
	if err := mount("", "/", "", propagationFlags[p], ""); err != nil {
		return fmt.Errorf("linux.rootfsPropagation %s: %w", p, err)
	}
	return nil
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// mountOne does config mount m below rootfs. cgroupns says whether the
// container has a cgroup namespace (see mountCgroup). A read-only tmpfs,
// or the tmpfs of a read-only cgroup mount, is mounted read-write and
// mountOne reports ro: the caller makes it read-only once every mount is
// done (as runc does for a tmpfs), so that later mounts below it (podman's
// /etc/hosts under a read-only /etc, /sys/fs/cgroup/systemd for
// --systemd) can make their targets.
func mountOne(rootfs string, m specs.Mount, userns, cgroupns bool) (ro bool, err error) {
	dest, err := securejoin.SecureJoin(rootfs, m.Destination)
	if err != nil {
		return false, err
	}
	flags, prop, data := parseMountOptions(m.Options)
	if m.Type == "tmpfs" && flags&unix.MS_RDONLY != 0 && !isBind(m) {
		flags &^= unix.MS_RDONLY
		ro = true
	}
	if m.Type == "cgroup" && flags&unix.MS_RDONLY != 0 && !isBind(m) {
		// The hierarchies below take the flag; the tmpfs holding them
		// is made read-only with the others.
		ro = true
	}
	return ro, mountAt(dest, m, flags, prop, data, cgroupns)
}

// mountAt does mount m at dest, resolved in the rootfs, with the flags,
// propagation changes and data parseMountOptions gave.
func mountAt(dest string, m specs.Mount, flags uintptr, prop []uintptr, data string, cgroupns bool) error {
	switch {
	case isBind(m):
		fi, err := os.Stat(m.Source)
		if err != nil {
			return err
		}
		if err := mkTarget(dest, fi.IsDir()); err != nil {
			return err
		}
		if err := bindMount(m.Source, dest, flags); err != nil {
			return err
		}
	case m.Type == "cgroup":
		if err := mountCgroup(dest, flags, cgroupns); err != nil {
			return err
		}
	case m.Type == "cgroup2" && !cgroupns:
		if err := mkTarget(dest, true); err != nil {
			return err
		}
		if err := mountCgroupBinds(dest, flags, true); err != nil {
			return err
		}
	case m.Type == "tmpfs" && slices.Contains(m.Options, optTmpcopyup):
		if err := mountTmpcopyup(m.Source, dest, flags, data); err != nil {
			return err
		}
	default:
		if err := mkTarget(dest, true); err != nil {
			return err
		}
		if err := mount(m.Source, dest, m.Type, flags, data); err != nil {
			return err
		}
	}
	for _, p := range prop {
		if err := mount("", dest, "", p, ""); err != nil {
			return err
		}
	}
	return nil
}

// bindMount bind-mounts src on dest (recursively when flags has MS_REC),
// then applies the other flags by a remount, which a bind ignores.
func bindMount(src, dest string, flags uintptr) error {
	if err := mount(src, dest, "", unix.MS_BIND|flags&unix.MS_REC, ""); err != nil {
		return err
	}
	if rest := flags &^ (unix.MS_BIND | unix.MS_REC); rest != 0 {
		return mount("", dest, "", unix.MS_REMOUNT|unix.MS_BIND|rest|lockedFlags(dest), "")
	}
	return nil
}

// mkTarget creates a mount point: a directory, or an empty file.
func mkTarget(path string, dir bool) error {
	if dir {
		return os.MkdirAll(path, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// defaultDevices are created in every container's /dev (runtime-spec,
// "Default Devices").
var defaultDevices = []specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// setupDev creates the default and configured devices and the standard
// symlinks. In a user namespace mknod is not allowed, so the host device
// at the same path is bind-mounted instead.
func setupDev(rootfs string, devices []specs.LinuxDevice, userns bool) error {
	all := append(append([]specs.LinuxDevice{}, defaultDevices...), devices...)
	for _, d := range all {
		dest, err := securejoin.SecureJoin(rootfs, d.Path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		if userns {
			if err := mkTarget(dest, false); err != nil {
				return err
			}
			if err := mount(d.Path, dest, "", unix.MS_BIND, ""); err != nil {
				return err
			}
			continue
		}
		typ, _ := deviceType(d.Type)
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode) & 0o7777
		}
		os.Remove(dest)
		if err := unix.Mknod(dest, typ|mode, int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))); err != nil {
			return &os.PathError{Op: "mknod", Path: dest, Err: err}
		}
		if err := unix.Chmod(dest, mode); err != nil {
			return &os.PathError{Op: "chmod", Path: dest, Err: err}
		}
		if d.UID != nil || d.GID != nil {
			uid, gid := -1, -1
			if d.UID != nil {
				uid = int(*d.UID)
			}
			if d.GID != nil {
				gid = int(*d.GID)
			}
			if err := os.Lchown(dest, uid, gid); err != nil {
				return err
			}
		}
	}
	links := [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
	}
	for _, l := range links {
		dst := filepath.Join(rootfs, "dev", l[1])
		if err := os.Symlink(l[0], dst); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	}
	return nil
}

// switchRoot makes rootfs the root: pivot_root(".", ".") and a lazy
// unmount of the old root stacked on top, or with noPivot, MS_MOVE onto /
// and chroot after detaching every mount outside rootfs. In a joined
// mount namespace (shared) it only chroots, leaving the namespace's
// mounts to its other processes; as with --no-pivot, a process with
// CAP_SYS_CHROOT can get out of a chroot, here into the joined namespace.
func switchRoot(rootfs string, noPivot, shared bool) error {
	switch {
	case shared:
		// pivot_root would move the root of every process of a joined
		// mount namespace, and moveRoot would cover theirs: chroot.
		if err := unix.Chroot(rootfs); err != nil {
			return fmt.Errorf("chroot rootfs: %w", err)
		}
		return unix.Chdir("/")
	case noPivot:
		return moveRoot(rootfs)
	}
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return fmt.Errorf("chdir rootfs: %w", err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return fmt.Errorf("chdir old root: %w", err)
	}
	// Never let the unmount below propagate to the host.
	if err := mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return err
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", err)
	}
	return unix.Chdir("/")
}

func moveRoot(rootfs string) error {
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		p := m.Mountpoint
		if p == "/" || p == rootfs || strings.HasPrefix(p, rootfs+"/") || strings.HasPrefix(rootfs, p+"/") {
			continue
		}
		// Best effort: a mount that is busy or locked stays, hidden by
		// the chroot.
		unix.Unmount(p, unix.MNT_DETACH)
	}
	if err := unix.Chdir(rootfs); err != nil {
		return fmt.Errorf("chdir rootfs: %w", err)
	}
	if err := mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return err
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

// finishRootfs runs inside the new root: sysctls, masked and read-only
// paths, and the read-only root.
func finishRootfs(s *specs.Spec) error {
	// Sysctls first, as runc: /proc/sys is usually a read-only path.
	for k, v := range s.Linux.Sysctl {
		p := filepath.Join("/proc/sys", strings.ReplaceAll(k, ".", "/"))
		if err := os.WriteFile(p, []byte(v), 0); err != nil {
			return fmt.Errorf("linux.sysctl %s: %w", k, err)
		}
	}
	for _, p := range s.Linux.MaskedPaths {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return fmt.Errorf("linux.maskedPaths: %w", err)
		}
		if fi.IsDir() {
			err = mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "")
		} else {
			err = mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("linux.maskedPaths: %w", err)
		}
	}
	for _, p := range s.Linux.ReadonlyPaths {
		if err := mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue
			}
			return fmt.Errorf("linux.readonlyPaths: %w", err)
		}
		if err := mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_REC|lockedFlags(p), ""); err != nil {
			return fmt.Errorf("linux.readonlyPaths: %w", err)
		}
	}
	if s.Root.Readonly {
		if err := mount("", "/", "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY|lockedFlags("/"), ""); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	return nil
}
