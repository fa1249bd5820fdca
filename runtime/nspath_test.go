package runtime_test

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setNamespacePath makes s join the namespace of type t at path.
func setNamespacePath(s *specs.Spec, t specs.LinuxNamespaceType, path string) {
	for i := range s.Linux.Namespaces {
		if s.Linux.Namespaces[i].Type == t {
			s.Linux.Namespaces[i].Path = path
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: t, Path: path})
}

// userNS gives s rootless DefaultSpec's namespaces and mounts (a user
// namespace among them) with the id mapping m for uids and gids; with m
// nil, no mapping, for a user namespace joined by path.
func userNS(s *specs.Spec, m []specs.LinuxIDMapping) {
	rl := runtime.DefaultSpec(true)
	s.Linux.Namespaces, s.Mounts = rl.Linux.Namespaces, rl.Mounts
	s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
}

func TestCreateJoinNamespaces(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	_, owner, _ := startSleeper(t, r, nil) // hostname execbox
	ns := func(typ string) string { return "/proc/" + strconv.Itoa(owner.Pid) + "/ns/" + typ }
	code, out := run(t, []string{"sh", "-c", "hostname; cat /proc/1/comm; ls /sys/class/net; readlink /proc/self/ns/net; readlink /proc/self/ns/uts"}, func(s *specs.Spec) {
		s.Hostname = "" // the joined UTS namespace keeps its name
		setNamespacePath(s, specs.NetworkNamespace, ns("net"))
		setNamespacePath(s, specs.UTSNamespace, ns("uts"))
		setNamespacePath(s, specs.PIDNamespace, ns("pid"))
	})
	if code != 0 {
		t.Fatalf("exit code %d:\n%s", code, out)
	}
	wantNet, _ := os.Readlink(ns("net"))
	wantUTS, _ := os.Readlink(ns("uts"))
	want := strings.Join([]string{"execbox", "sleep", "lo", wantNet, wantUTS}, "\n")
	if strings.TrimSpace(out) != want {
		t.Errorf("output\n%s\nwant\n%s", out, want)
	}
}

func TestCreateTimeNamespace(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat("/proc/self/ns/time"); err != nil {
		t.Skip("needs a kernel with time namespaces")
	}
	code, out := run(t, []string{"cat", "/proc/uptime"}, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
		s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1000000}, "monotonic": {Secs: 5}}
	})
	if code != 0 {
		t.Fatalf("exit code %d:\n%s", code, out)
	}
	f := strings.Fields(out)
	host, _ := os.ReadFile("/proc/uptime")
	hf := strings.Fields(string(host))
	if len(f) != 2 || len(hf) != 2 {
		t.Fatalf("uptime %q, host %q", out, host)
	}
	up, _ := strconv.ParseFloat(f[0], 64)
	hostUp, _ := strconv.ParseFloat(hf[0], 64)
	// Both readings have centisecond resolution and the host's is taken
	// later, so the difference is at most the offset; the slack absorbs
	// float rounding of two equal centisecond readings.
	if d := up - hostUp; d < 1000000-60 || d > 1000000+0.005 {
		t.Errorf("uptime inside %v, host %v: want the 1000000 s boottime offset", up, hostUp)
	}
}

func TestValidateNamespacePaths(t *testing.T) {
	bundle := t.TempDir()
	if err := os.Mkdir(bundle+"/rootfs", 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name        string
		edit        func(*specs.Spec)
		field       string
		unsupported bool
	}{
		{name: "missing path", field: "linux.namespaces[1].path", edit: func(s *specs.Spec) {
			setNamespacePath(s, specs.NetworkNamespace, "/nonexistent/ns")
		}},
		{name: "not a namespace", field: "linux.namespaces[1].path", edit: func(s *specs.Spec) {
			setNamespacePath(s, specs.NetworkNamespace, "/proc/self/status")
		}},
		{name: "wrong type", field: "linux.namespaces[1].path", edit: func(s *specs.Spec) {
			setNamespacePath(s, specs.NetworkNamespace, "/proc/self/ns/uts")
		}},
		{name: "offsets without a time namespace", field: "linux.timeOffsets", edit: func(s *specs.Spec) {
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1}}
		}},
		{name: "offsets of a joined time namespace", field: "linux.timeOffsets", edit: func(s *specs.Spec) {
			setNamespacePath(s, specs.TimeNamespace, "/proc/self/ns/time")
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"boottime": {Secs: 1}}
		}},
		{name: "unknown clock", field: "linux.timeOffsets", edit: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.TimeNamespace})
			s.Linux.TimeOffsets = map[string]specs.LinuxTimeOffset{"realtime": {Secs: 1}}
		}},
		{name: "mappings with a joined user namespace", field: "linux.uidMappings", edit: func(s *specs.Spec) {
			setNamespacePath(s, specs.UserNamespace, "/proc/self/ns/user")
			s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runtime.DefaultSpec(false)
			s.Process.Terminal = false
			tc.edit(s)
			err := runtime.Validate(s, bundle)
			var ce *runtime.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("Validate: %v, want a ConfigError on %s", err, tc.field)
			}
			if errors.Is(err, runtime.ErrUnsupported) != tc.unsupported {
				t.Errorf("Validate: %v, unsupported %v", err, !tc.unsupported)
			}
		})
	}
}

// TestCreateJoinUserNamespace joins another container's user namespace
// (with its mappings) and makes new mount, pid, uts and ipc namespaces
// owned by it.
func TestCreateJoinUserNamespace(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 1}, {ContainerID: 1, HostID: 100001, Size: 65535}}
	_, owner, _ := startSleeper(t, r, func(s *specs.Spec) {
		userNS(s, m)
	})
	userNSPath := "/proc/" + strconv.Itoa(owner.Pid) + "/ns/user"
	code, out := run(t, []string{"sh", "-c", "cat /proc/self/uid_map; hostname; id -u; readlink /proc/self/ns/user"}, func(s *specs.Spec) {
		userNS(s, nil)
		setNamespacePath(s, specs.UserNamespace, userNSPath)
		s.Hostname = "joiner"
		s.Process.User = specs.User{UID: 1000, GID: 1000}
	})
	if code != 0 {
		t.Fatalf("exit code %d:\n%s", code, out)
	}
	want, _ := os.Readlink(userNSPath)
	f := strings.Fields(out)
	if len(f) != 9 || f[3] != "1" || f[4] != "100001" || f[6] != "joiner" || f[7] != "1000" || f[8] != want {
		t.Errorf("output %q: want the owner's mappings, hostname joiner, uid 1000 and user namespace %s", out, want)
	}
}

// TestCreateJoinUnmappedUserNamespace joins a user namespace that does not
// map host root (0 is host 100000): init becomes the namespace's root, as
// in a new one, so it can set up the container's own mounts and open
// exec.fifo.
func TestCreateJoinUnmappedUserNamespace(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	_, owner, _ := startSleeper(t, r, func(s *specs.Spec) {
		userNS(s, m)
	})
	userNSPath := "/proc/" + strconv.Itoa(owner.Pid) + "/ns/user"
	code, out := run(t, []string{"sh", "-c", "id -u; cat /proc/self/uid_map"}, func(s *specs.Spec) {
		userNS(s, nil)
		setNamespacePath(s, specs.UserNamespace, userNSPath)
	})
	if f := strings.Fields(out); code != 0 || len(f) != 4 || f[0] != "0" || f[2] != "100000" {
		t.Fatalf("exit code %d, output %q: want uid 0 of the joined namespace (host 100000)", code, out)
	}
}

// TestExecUserNSWithHostNetNS: a container with its own user namespace
// joins a network namespace the host made (as CNI does). Exec enters both:
// the network namespace, which the container's user namespace does not
// own, before the user namespace.
func TestExecUserNSWithHostNetNS(t *testing.T) {
	requireRoot(t)
	holder := exec.Command("unshare", "--net", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Skipf("needs unshare (util-linux): %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	netNS := "/proc/" + strconv.Itoa(holder.Process.Pid) + "/ns/net"
	eventually(t, "unshare to make its network namespace", func() bool {
		a, _ := os.Readlink(netNS)
		b, _ := os.Readlink("/proc/self/ns/net")
		return a != "" && a != b
	})
	want, _ := os.Readlink(netNS)
	r := newRuntime(t)
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	id, _, spec := startSleeper(t, r, func(s *specs.Spec) {
		userNS(s, m)
		setNamespacePath(s, specs.NetworkNamespace, netNS)
	})
	code, out := execOut(t, r, id, process(spec, "sh", "-c", "readlink /proc/self/ns/net; id -u"))
	if f := strings.Fields(out); code != 0 || len(f) != 2 || f[0] != want || f[1] != "0" {
		t.Fatalf("exit code %d, output %q: want network namespace %s and uid 0", code, out, want)
	}
}

// TestCreateJoinMountNamespace joins a mount namespace made by another
// process: the container runs in its rootfs (chroot), while the joined
// namespace's own processes keep their root, and the container's mounts
// stay out of the host's mount table.
func TestCreateJoinMountNamespace(t *testing.T) {
	requireRoot(t)
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sleep", "60")
	if err := holder.Start(); err != nil {
		t.Skipf("needs unshare (util-linux): %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	proc := "/proc/" + strconv.Itoa(holder.Process.Pid)
	eventually(t, "unshare to make its mount namespace", func() bool {
		a, _ := os.Readlink(proc + "/ns/mnt")
		b, _ := os.Readlink("/proc/self/ns/mnt")
		return a != "" && a != b
	})
	want, _ := os.Readlink(proc + "/ns/mnt")
	code, out := run(t, []string{"sh", "-c", "readlink /proc/self/ns/mnt; cat /marker 2>/dev/null || ls /bin/busybox"}, func(s *specs.Spec) {
		setNamespacePath(s, specs.MountNamespace, proc+"/ns/mnt")
	})
	if f := strings.Fields(out); code != 0 || len(f) < 2 || f[0] != want || f[1] != "/bin/busybox" {
		t.Fatalf("exit code %d, output %q: want mount namespace %s and the rootfs", code, out, want)
	}
	if root, _ := os.Readlink(proc + "/root"); root != "/" {
		t.Errorf("the joined namespace's process has root %q now, want /", root)
	}
	host, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(host), "/TestCreateJoinMountNamespace") {
		t.Errorf("the container's mounts reached the host:\n%s", host)
	}
}
