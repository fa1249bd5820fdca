package runtime_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestFeaturesMatchValidate checks that Features tells the truth: every
// namespace and capability it lists passes Validate, and what it leaves
// out (joining a mount namespace, seccomp, hooks) is rejected as
// unsupported.
func TestFeaturesMatchValidate(t *testing.T) {
	f := runtime.Features()
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	rootless := os.Geteuid() != 0
	spec := func(edit func(*specs.Spec)) *specs.Spec {
		s := runtime.DefaultSpec(rootless)
		s.Process.Terminal = false
		edit(s)
		return s
	}
	for _, ns := range f.Linux.Namespaces {
		s := spec(func(s *specs.Spec) {
			if !slices.ContainsFunc(s.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return string(n.Type) == ns }) {
				s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.LinuxNamespaceType(ns)})
			}
			if ns == string(specs.UserNamespace) && len(s.Linux.UIDMappings) == 0 {
				m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
				s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
			}
		})
		if err := runtime.Validate(s, bundle); err != nil {
			t.Errorf("namespace %q is listed but rejected: %v", ns, err)
		}
	}
	s := spec(func(s *specs.Spec) { s.Process.Capabilities.Bounding = f.Linux.Capabilities })
	if err := runtime.Validate(s, bundle); err != nil {
		t.Errorf("listed capabilities rejected: %v", err)
	}
	for name, edit := range map[string]func(*specs.Spec){
		"mount namespace path": func(s *specs.Spec) {
			for i := range s.Linux.Namespaces {
				if s.Linux.Namespaces[i].Type == specs.MountNamespace {
					s.Linux.Namespaces[i].Path = "/proc/self/ns/mnt"
				}
			}
		},
		"seccomp": func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow} },
		"hooks":   func(s *specs.Spec) { s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}}} },
		"memory policy": func(s *specs.Spec) {
			s.Linux.MemoryPolicy = &specs.LinuxMemoryPolicy{Mode: specs.MpolInterleave, Nodes: "0"}
		},
		"unlisted bind mount option": func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: []string{"rbind", "rro"}})
		},
	} {
		if err := runtime.Validate(spec(edit), bundle); !errors.Is(err, runtime.ErrUnsupported) {
			t.Errorf("%s: Validate gave %v, want ErrUnsupported", name, err)
		}
	}
	if !slices.Contains(f.Linux.Namespaces, string(specs.TimeNamespace)) || len(f.Hooks) != 0 ||
		f.Hooks == nil || *f.Linux.Seccomp.Enabled {
		t.Errorf("features do not match what Validate accepts: %+v", f)
	}
	s = spec(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: f.MountOptions})
	})
	if err := runtime.Validate(s, bundle); err != nil {
		t.Errorf("listed mount options rejected on a bind mount: %v", err)
	}
	for _, o := range []string{"ro", "nosuid", "rbind", "rprivate"} {
		if !slices.Contains(f.MountOptions, o) {
			t.Errorf("mount option %q missing from %v", o, f.MountOptions)
		}
	}
}
