package runtime

import (
	"fmt"
	"strings"

	_ "github.com/opencontainers/cgroups/devices" // registers the device managers
	devconfig "github.com/opencontainers/cgroups/devices/config"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The device cgroup (the devices controller on v1, an eBPF program on v2,
// both programmed by github.com/opencontainers/cgroups/devices) decides
// which device nodes the container may create (m), read (r) and write (w),
// whatever its capabilities: a container with CAP_MKNOD still cannot open
// the host's disks. Its program is linux.resources.devices in order, then
// the rules every container needs (containerDeviceRules), as runc does.
// Rootless, with no cgroup of its own, a container has none.

// containerDeviceRules are allowed after config.json's rules: creating any
// device node (not using it: runc's default), the default devices,
// /dev/console, /dev/ptmx and the ptys, and /dev/net/tun, as runc allows.
var containerDeviceRules = []*devconfig.Rule{
	{Type: devconfig.CharDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard, Permissions: "m", Allow: true},
	{Type: devconfig.BlockDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard, Permissions: "m", Allow: true},
	{Type: devconfig.CharDevice, Major: 5, Minor: 1, Permissions: "rwm", Allow: true},                    // /dev/console
	{Type: devconfig.CharDevice, Major: 5, Minor: 2, Permissions: "rwm", Allow: true},                    // /dev/ptmx
	{Type: devconfig.CharDevice, Major: 136, Minor: devconfig.Wildcard, Permissions: "rwm", Allow: true}, // /dev/pts/*
	{Type: devconfig.CharDevice, Major: 10, Minor: 200, Permissions: "rwm", Allow: true},                 // /dev/net/tun
}

// deviceRules is the device cgroup program for spec s: its
// linux.resources.devices, containerDeviceRules, and rwm for every device
// its /dev gets (defaultDevices and linux.devices).
func deviceRules(s *specs.Spec) []*devconfig.Rule {
	var out []*devconfig.Rule
	if s.Linux.Resources != nil {
		for _, d := range s.Linux.Resources.Devices {
			r := &devconfig.Rule{Type: devconfig.WildcardDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard,
				Permissions: devconfig.Permissions(d.Access), Allow: d.Allow}
			if d.Type != "" {
				r.Type = devconfig.Type(d.Type[0])
			}
			if d.Major != nil {
				r.Major = *d.Major
			}
			if d.Minor != nil {
				r.Minor = *d.Minor
			}
			if r.Permissions == "" {
				r.Permissions = "rwm"
			}
			out = append(out, r)
		}
	}
	out = append(out, containerDeviceRules...)
	for _, d := range append(append([]specs.LinuxDevice{}, defaultDevices...), s.Linux.Devices...) {
		t := devconfig.CharDevice
		switch d.Type {
		case "b":
			t = devconfig.BlockDevice
		case "p":
			continue // fifos are not in the device cgroup
		}
		out = append(out, &devconfig.Rule{Type: t, Major: d.Major, Minor: d.Minor, Permissions: "rwm", Allow: true})
	}
	return out
}

// validateDeviceRules checks linux.resources.devices: a type of a, b or c
// (or none: all) and an access of r, w and m.
func validateDeviceRules(rules []specs.LinuxDeviceCgroup) error {
	for i, d := range rules {
		switch d.Type {
		case "", "a", "b", "c":
		default:
			return configErrorf(fmt.Sprintf("linux.resources.devices[%d].type", i), "want a, b or c, got %q", d.Type)
		}
		if strings.Trim(d.Access, "rwm") != "" {
			return configErrorf(fmt.Sprintf("linux.resources.devices[%d].access", i), "want letters of rwm, got %q", d.Access)
		}
	}
	return nil
}
