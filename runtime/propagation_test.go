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
