package engine

import (
	"fmt"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Volume is a host directory bound into the container.
type Volume struct {
	Host, Container string
	ReadOnly        bool
}

// ParseVolume parses docker's -v form HOST:CTR[:ro|:rw]. Both paths must
// be absolute.
func ParseVolume(s string) (Volume, error) {
	parts := strings.Split(s, ":")
	var v Volume
	switch len(parts) {
	case 3:
		switch parts[2] {
		case "ro":
			v.ReadOnly = true
		case "rw":
		default:
			return v, fmt.Errorf("parse volume %q: the mode must be ro or rw", s)
		}
		fallthrough
	case 2:
		v.Host, v.Container = parts[0], parts[1]
	default:
		return v, fmt.Errorf("parse volume %q: want HOST:CONTAINER[:ro]", s)
	}
	if !filepath.IsAbs(v.Host) || !filepath.IsAbs(v.Container) {
		return v, fmt.Errorf("parse volume %q: both paths must be absolute", s)
	}
	v.Host, v.Container = filepath.Clean(v.Host), filepath.Clean(v.Container)
	return v, nil
}

// applyOptions puts the caller's settings on top of the image's spec.
func applyOptions(spec *specs.Spec, o *RunOptions, name string) error {
	spec.Process.Terminal = o.Terminal
	spec.Process.ConsoleSize = o.ConsoleSize
	spec.Hostname = o.Hostname
	if spec.Hostname == "" {
		spec.Hostname = name
	}
	spec.Root.Readonly = o.ReadOnly
	switch o.Network {
	case "", "host":
		spec.Linux.Namespaces = withoutNamespace(spec.Linux.Namespaces, specs.NetworkNamespace)
	case "none":
		if !hasNamespace(spec.Linux.Namespaces, specs.NetworkNamespace) {
			spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
		}
	default:
		return fmt.Errorf("network %q: want host or none", o.Network)
	}
	if o.Memory > 0 || o.CPUs > 0 || o.PidsLimit > 0 {
		if spec.Linux.Resources == nil {
			spec.Linux.Resources = &specs.LinuxResources{}
		}
		r := spec.Linux.Resources
		if o.Memory > 0 {
			r.Memory = &specs.LinuxMemory{Limit: &o.Memory}
		}
		if o.CPUs > 0 {
			period := uint64(100000)
			quota := int64(o.CPUs * float64(period))
			r.CPU = &specs.LinuxCPU{Period: &period, Quota: &quota}
		}
		if o.PidsLimit > 0 {
			r.Pids = &specs.LinuxPids{Limit: &o.PidsLimit}
		}
	}
	for _, v := range o.Volumes {
		opts := []string{"rbind", "rw"}
		if v.ReadOnly {
			opts[1] = "ro"
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: v.Container, Type: "bind", Source: v.Host, Options: opts})
	}
	return nil
}

func hasNamespace(ns []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, n := range ns {
		if n.Type == t {
			return true
		}
	}
	return false
}

func withoutNamespace(ns []specs.LinuxNamespace, t specs.LinuxNamespaceType) []specs.LinuxNamespace {
	out := ns[:0]
	for _, n := range ns {
		if n.Type != t {
			out = append(out, n)
		}
	}
	return out
}
