package runtime_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestDeviceCgroup: with CAP_MKNOD a container may create any device node,
// but only open what the device cgroup allows: the default devices, and
// /dev/fuse (10:229) only when config.json's rules allow it.
func TestDeviceCgroup(t *testing.T) {
	requireRoot(t)
	script := "mknod /tmp/fuse c 10 229 && echo made; cat /dev/null && echo null-ok; (exec 3<>/tmp/fuse) && echo opened-fuse; true"
	mknod := func(s *specs.Spec) {
		s.Root.Readonly = false
		c := s.Process.Capabilities
		c.Bounding = append(c.Bounding, "CAP_MKNOD")
		c.Effective = append(c.Effective, "CAP_MKNOD")
		c.Permitted = append(c.Permitted, "CAP_MKNOD")
	}
	major, minor := int64(10), int64(229)
	for _, tc := range []struct {
		name   string
		edit   func(*specs.Spec)
		opened bool
	}{
		{name: "denied by default", edit: mknod},
		{name: "allowed by a rule", edit: func(s *specs.Spec) {
			mknod(s)
			s.Linux.Resources.Devices = append(s.Linux.Resources.Devices,
				specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rw"})
		}, opened: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, []string{"sh", "-c", script}, tc.edit)
			if code != 0 || !strings.Contains(out, "made") || !strings.Contains(out, "null-ok") {
				t.Fatalf("exit code %d, output:\n%s\nwant the node made and /dev/null usable", code, out)
			}
			if got := strings.Contains(out, "opened-fuse"); got != tc.opened {
				t.Errorf("opened /dev/fuse's node: %v, want %v; output:\n%s", got, tc.opened, out)
			}
			if !tc.opened && !strings.Contains(out, "Operation not permitted") {
				t.Errorf("want EPERM opening the node; output:\n%s", out)
			}
		})
	}
	bundle := newBundle(t, []string{"true"}, func(s *specs.Spec) {
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Type: "x", Access: "rwm"}}
	})
	spec, err := runtime.LoadBundle(bundle)
	if err != nil {
		t.Fatal(err)
	}
	var ce *runtime.ConfigError
	if err := runtime.Validate(spec, bundle); !errors.As(err, &ce) || ce.Field != "linux.resources.devices[0].type" {
		t.Errorf("Validate of a bad device rule type: %v, want a ConfigError naming linux.resources.devices[0].type", err)
	}
}
