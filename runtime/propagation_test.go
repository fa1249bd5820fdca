package runtime_test

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRootfsPropagation checks linux.rootfsPropagation on the container's
// root mount, as the OCI runtime-tools suite does (validation/
// linux_rootfs_propagation): the container binds / onto /t and mounts a
// tmpfs on /tmp. "shared" must show the tmpfs through /t, "slave" and
// "private" must not, and "unbindable" must refuse the bind. "shared"
// also used to fail create: pivot_root refuses a new root whose parent
// mount is shared.
func TestRootfsPropagation(t *testing.T) {
	requireRoot(t)
	script := `grep -E '^[0-9]+ [0-9]+ [^ ]+ [^ ]+ / ' /proc/self/mountinfo || echo no root mount
mkdir /t || exit 9
mount -o bind / /t || { echo bind refused; exit 0; }
mount -t tmpfs tmpfs /tmp && touch /tmp/probe || exit 9
if [ -e /t/tmp/probe ]; then echo exposed; else echo hidden; fi`
	for _, tc := range []struct {
		prop     string
		want     string // the last line of the output
		rootLine string // in the root's mountinfo line, "" for nothing to check
	}{
		{prop: "shared", want: "exposed", rootLine: "shared:"},
		{prop: "rshared", want: "exposed", rootLine: "shared:"},
		{prop: "slave", want: "hidden"},
		{prop: "private", want: "hidden"},
		{prop: "rprivate", want: "hidden"},
		{prop: "unbindable", want: "bind refused", rootLine: "unbindable"},
	} {
		t.Run(tc.prop, func(t *testing.T) {
			code, out := run(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
				s.Root.Readonly = false
				s.Linux.RootfsPropagation = tc.prop
				c := s.Process.Capabilities
				c.Bounding = append(c.Bounding, "CAP_SYS_ADMIN")
				c.Effective = append(c.Effective, "CAP_SYS_ADMIN")
				c.Permitted = append(c.Permitted, "CAP_SYS_ADMIN")
			})
			if code != 0 {
				t.Fatalf("exit code %d; output:\n%s", code, out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if last := lines[len(lines)-1]; last != tc.want {
				t.Errorf("got %q, want %q; output:\n%s", last, tc.want, out)
			}
			if tc.rootLine != "" && !strings.Contains(lines[0], tc.rootLine) {
				t.Errorf("root mount %q lacks %q", lines[0], tc.rootLine)
			}
		})
	}
}

// TestMountOptionsLikeRuntimeTools runs the mounts of the OCI
// runtime-tools suite (validation/mounts): tmpfs and bind mounts with
// propagation options, every one also given tmpfs data options
// ("mode=755", "size=1k") that mount(2) ignores for a bind, as runc lets
// it. Each must be mounted with the asked propagation.
func TestMountOptionsLikeRuntimeTools(t *testing.T) {
	requireRoot(t)
	defaults := []string{"nosuid", "strictatime", "mode=755", "size=1k"}
	mounts := []struct {
		dest, source string
		opts         []string
		want         string // in the optional fields of the mountinfo line
	}{
		{"/tmp/test-shared", "", []string{"shared"}, "shared:"},
		{"/tmp/test-private", "", []string{"private"}, ""},
		{"/mnt/etc-shared", "/etc", []string{"bind", "shared"}, "shared:"},
		{"/mnt/etc-rshared", "/etc", []string{"rbind", "rshared"}, "shared:"},
		{"/mnt/etc-rslave", "/etc", []string{"rbind", "rslave"}, ""},
		{"/mnt/etc-private", "/etc", []string{"bind", "private"}, ""},
		{"/mnt/etc-unbindable", "/etc", []string{"bind", "unbindable"}, "unbindable"},
	}
	code, out := run(t, []string{"cat", "/proc/self/mountinfo"}, func(s *specs.Spec) {
		for _, m := range mounts {
			sm := specs.Mount{Destination: m.dest, Type: "tmpfs", Source: "tmpfs", Options: append(append([]string{}, defaults...), m.opts...)}
			if m.source != "" {
				sm.Type, sm.Source = "", m.source
			}
			s.Mounts = append(s.Mounts, sm)
		}
	})
	if code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, out)
	}
	for _, m := range mounts {
		var line string
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[4] == m.dest {
				line = l
			}
		}
		if line == "" {
			t.Errorf("%s is not mounted:\n%s", m.dest, out)
			continue
		}
		optional := strings.SplitN(line, " - ", 2)[0]
		if m.want != "" && !strings.Contains(optional, m.want) {
			t.Errorf("%s: %q lacks %q", m.dest, line, m.want)
		}
		if m.want == "" && (strings.Contains(optional, "shared:") || strings.Contains(optional, "unbindable")) {
			t.Errorf("%s: %q is not private", m.dest, line)
		}
	}
}
