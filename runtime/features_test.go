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
// out (seccomp notify, a memory policy, ...) is rejected as unsupported.
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
		"seccomp notify": func(s *specs.Spec) { s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActNotify} },
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
	if !slices.Contains(f.Linux.Namespaces, string(specs.TimeNamespace)) || slices.Contains(f.Linux.Seccomp.Actions, string(specs.ActNotify)) {
		t.Errorf("features do not match what Validate accepts: %+v", f)
	}
	hooks := &specs.Hooks{}
	for _, kind := range f.Hooks {
		h := []specs.Hook{{Path: "/bin/true"}}
		switch kind {
		case "prestart":
			hooks.Prestart = h
		case "createRuntime":
			hooks.CreateRuntime = h
		case "createContainer":
			hooks.CreateContainer = h
		case "startContainer":
			hooks.StartContainer = h
		case "poststart":
			hooks.Poststart = h
		case "poststop":
			hooks.Poststop = h
		default:
			t.Errorf("unknown hook kind %q listed", kind)
		}
	}
	if len(f.Hooks) != 6 {
		t.Errorf("hooks %v, want all six kinds", f.Hooks)
	}
	if err := runtime.Validate(spec(func(s *specs.Spec) { s.Hooks = hooks }), bundle); err != nil {
		t.Errorf("listed hooks rejected: %v", err)
	}
	sc := f.Linux.Seccomp
	if !*sc.Enabled || len(sc.Actions) == 0 || len(sc.Operators) != 7 || !slices.Contains(sc.Archs, string(specs.ArchX86_64)) {
		t.Errorf("seccomp features %+v", sc)
	}
	seccomp := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	for _, a := range sc.Archs {
		seccomp.Architectures = append(seccomp.Architectures, specs.Arch(a))
	}
	for _, fl := range sc.SupportedFlags {
		seccomp.Flags = append(seccomp.Flags, specs.LinuxSeccompFlag(fl))
	}
	for _, a := range sc.Actions {
		seccomp.Syscalls = append(seccomp.Syscalls, specs.LinuxSyscall{Names: []string{"getpid"}, Action: specs.LinuxSeccompAction(a)})
	}
	for _, op := range sc.Operators {
		seccomp.Syscalls = append(seccomp.Syscalls, specs.LinuxSyscall{Names: []string{"getppid"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 1, Op: specs.LinuxSeccompOperator(op)}}})
	}
	if err := runtime.Validate(spec(func(s *specs.Spec) { s.Linux.Seccomp = seccomp }), bundle); err != nil {
		t.Errorf("listed seccomp actions, operators, archs or flags rejected: %v", err)
	}
	// tmpcopyup, runc's extension, means something on a tmpfs only.
	bindOpts := slices.DeleteFunc(slices.Clone(f.MountOptions), func(o string) bool { return o == "tmpcopyup" })
	s = spec(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: "/tmp", Options: bindOpts},
			specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"tmpcopyup"}})
	})
	if err := runtime.Validate(s, bundle); err != nil {
		t.Errorf("listed mount options rejected: %v", err)
	}
	for _, o := range []string{"ro", "nosuid", "rbind", "rprivate", "tmpcopyup"} {
		if !slices.Contains(f.MountOptions, o) {
			t.Errorf("mount option %q missing from %v", o, f.MountOptions)
		}
	}
}
