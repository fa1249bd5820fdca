package runtime_test

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestCgroupMountHostNamespace: a "cgroup" mount without a cgroup
// namespace (what podman and docker ask on v1 and hybrid hosts) shows the
// container's own cgroup directories, read-only, under the same names as
// the host's hierarchies (runc's layout), and /proc/self/cgroup has the
// host's paths.
func TestCgroupMountHostNamespace(t *testing.T) {
	requireRoot(t)
	script := `cat /proc/self/cgroup; echo ==; ls /sys/fs/cgroup; echo ==; cat /proc/self/mountinfo; echo ==
touch /sys/fs/cgroup/x 2>/dev/null && echo tmpfs-writable
for f in /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max; do [ -e $f ] && { echo 5 2>/dev/null >$f && echo cgroup-writable; }; done
true`
	var cgPath string
	code, out := run(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.CgroupNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
		cgPath = s.Linux.CgroupsPath
	})
	if code != 0 {
		t.Fatalf("exit code %d:\n%s", code, out)
	}
	parts := strings.Split(out, "==\n")
	if len(parts) != 4 {
		t.Fatalf("unexpected output:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(parts[0]), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) != 3 || f[2] != cgPath {
			t.Errorf("/proc/self/cgroup line %q: want the host path %s", line, cgPath)
		}
	}
	if strings.Contains(parts[3], "writable") {
		t.Errorf("the cgroup mount is writable: %s", parts[3])
	}

	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil {
		t.Fatal(err)
	}
	unified := st.Type == unix.CGROUP2_SUPER_MAGIC
	host, err := mountinfo.GetMounts(mountinfo.FSTypeFilter("cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	if !unified {
		// One entry per v1 hierarchy, plus a link per co-mounted controller.
		set := map[string]bool{}
		for _, m := range host {
			name := filepath.Base(m.Mountpoint)
			set[name] = true
			if strings.Contains(name, ",") {
				for _, c := range strings.Split(name, ",") {
					set[c] = true
				}
			}
		}
		var want []string
		for n := range set {
			want = append(want, n)
		}
		sort.Strings(want)
		if got := strings.Fields(parts[1]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("/sys/fs/cgroup lists %v, want %v", got, want)
		}
	}
	// Every cgroup mount inside is the container's own directory.
	n := 0
	for _, line := range strings.Split(parts[2], "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || !strings.HasPrefix(f[4], "/sys/fs/cgroup") {
			continue
		}
		typ := f[len(f)-3]
		if typ != "cgroup" && typ != "cgroup2" {
			continue
		}
		n++
		if f[3] != cgPath {
			t.Errorf("mount at %s has root %s, want the container's cgroup %s", f[4], f[3], cgPath)
		}
		if !strings.HasPrefix(f[5], "ro,") {
			t.Errorf("mount at %s is not read-only: %s", f[4], f[5])
		}
	}
	if want := len(host); unified {
		if n != 1 {
			t.Errorf("%d cgroup mounts inside, want 1", n)
		}
	} else if n != want {
		t.Errorf("%d cgroup mounts inside, want %d (one per v1 hierarchy)", n, want)
	}
}
