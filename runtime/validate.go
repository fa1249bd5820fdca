package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// LoadBundle reads BUNDLE/config.json. The error for a missing or
// malformed file is a *ConfigError.
func LoadBundle(bundle string) (*specs.Spec, error) {
	s, _, err := loadBundle(bundle)
	return s, err
}

// loadBundle is LoadBundle, also returning the bytes of config.json.
func loadBundle(bundle string) (*specs.Spec, []byte, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, nil, &ConfigError{Field: "config.json", Err: err}
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, nil, &ConfigError{Field: "config.json", Err: fmt.Errorf("parse: %w", err)}
	}
	return &s, b, nil
}

// namespaceFlags maps a runtime-spec namespace type to its clone flag.
var namespaceFlags = map[specs.LinuxNamespaceType]uintptr{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// Validate checks a spec against what this runtime implements, with the
// bundle used to resolve a relative root.path. Every error is a
// *ConfigError naming the field; requests for features not implemented
// yet wrap ErrUnsupported.
func Validate(s *specs.Spec, bundle string) error {
	if s.Root == nil || s.Root.Path == "" {
		return configErrorf("root.path", "must be set")
	}
	rootfs := s.Root.Path
	if !filepath.IsAbs(rootfs) {
		rootfs = filepath.Join(bundle, rootfs)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		return &ConfigError{Field: "root.path", Err: err}
	} else if !fi.IsDir() {
		return configErrorf("root.path", "%s is not a directory", rootfs)
	}
	if s.Process == nil {
		return configErrorf("process", "must be set")
	}
	if err := validateProcess(s.Process, "process"); err != nil {
		return err
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	for i, m := range s.Mounts {
		f := fmt.Sprintf("mounts[%d]", i)
		if !filepath.IsAbs(m.Destination) {
			return configErrorf(f+".destination", "must be an absolute path, got %q", m.Destination)
		}
		if len(m.UIDMappings)+len(m.GIDMappings) > 0 {
			return unsupported(f+".uidMappings", "id-mapped mounts")
		}
		if j := slices.Index(m.Options, optTmpcopyup); j >= 0 && m.Type != "tmpfs" {
			return configErrorf(fmt.Sprintf("%s.options[%d]", f, j), "%s applies to tmpfs mounts only", optTmpcopyup)
		}
		if isBind(m) {
			// mount(2) ignores the data of a bind mount: a word that is
			// not a flag (rro, idmap, nosymfollow, ...) would be dropped
			// silently. Filesystem data (key=value, as "mode=755" in a
			// list of tmpfs defaults) is ignored by the kernel for runc
			// too, so it is accepted.
			for j, o := range m.Options {
				_, flag := mountFlags[o]
				_, prop := propagationFlags[o]
				if !flag && !prop && !strings.Contains(o, "=") {
					return unsupported(fmt.Sprintf("%s.options[%d]", f, j), fmt.Sprintf("the bind mount option %q", o))
				}
			}
		}
	}
	if s.Linux == nil {
		return configErrorf("linux", "must be set")
	}
	l := s.Linux
	seen := map[specs.LinuxNamespaceType]bool{}
	for i, ns := range l.Namespaces {
		f := fmt.Sprintf("linux.namespaces[%d]", i)
		if _, ok := namespaceFlags[ns.Type]; !ok {
			return configErrorf(f+".type", "unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return configErrorf(f+".type", "namespace %q listed twice", ns.Type)
		}
		seen[ns.Type] = true
	}
	if !seen[specs.MountNamespace] {
		return configErrorf("linux.namespaces", "a mount namespace is required")
	}
	if err := validateNamespacePaths(l); err != nil {
		return err
	}
	if seen[specs.UserNamespace] && !joinsNamespace(l, specs.UserNamespace) {
		if len(l.UIDMappings) == 0 {
			return configErrorf("linux.uidMappings", "required with a user namespace")
		}
		if len(l.GIDMappings) == 0 {
			return configErrorf("linux.gidMappings", "required with a user namespace")
		}
	} else if seen[specs.UserNamespace] {
		// Joined: validateNamespacePaths checked that no mapping is set.
	} else if len(l.UIDMappings)+len(l.GIDMappings) > 0 {
		return configErrorf("linux.uidMappings", "set without a user namespace")
	} else if os.Geteuid() != 0 {
		return configErrorf("linux.namespaces", "a user namespace is required when not running as root")
	}
	if err := validateSeccomp(l.Seccomp); err != nil {
		return err
	}
	switch l.RootfsPropagation {
	case "", "private", "rprivate", "slave", "rslave", "shared", "rshared", "unbindable", "runbindable":
	default:
		return configErrorf("linux.rootfsPropagation", "unknown propagation %q", l.RootfsPropagation)
	}
	for i, d := range l.Devices {
		if _, err := deviceType(d.Type); err != nil {
			return configErrorf(fmt.Sprintf("linux.devices[%d].type", i), "%v", err)
		}
		if !filepath.IsAbs(d.Path) {
			return configErrorf(fmt.Sprintf("linux.devices[%d].path", i), "must be an absolute path")
		}
	}
	if l.IntelRdt != nil {
		return unsupported("linux.intelRdt", "Intel RDT")
	}
	if l.Personality != nil {
		return unsupported("linux.personality", "the personality setting")
	}
	if l.MemoryPolicy != nil {
		return unsupported("linux.memoryPolicy", "a NUMA memory policy")
	}
	if len(l.NetDevices) > 0 {
		return unsupported("linux.netDevices", "moving network devices")
	}
	if err := validateResources(l.Resources); err != nil {
		return err
	}
	return nil
}

// validateProcess checks a process (config.json's "process", or the one
// given to Exec); field names in errors start with prefix.
func validateProcess(p *specs.Process, prefix string) error {
	if len(p.Args) == 0 {
		return configErrorf(prefix+".args", "must not be empty")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return configErrorf(prefix+".cwd", "must be an absolute path, got %q", p.Cwd)
	}
	if p.Capabilities != nil {
		for _, set := range []struct {
			name string
			caps []string
		}{
			{"bounding", p.Capabilities.Bounding}, {"effective", p.Capabilities.Effective},
			{"permitted", p.Capabilities.Permitted}, {"inheritable", p.Capabilities.Inheritable},
			{"ambient", p.Capabilities.Ambient},
		} {
			for i, c := range set.caps {
				if _, ok := capNumber(c); !ok {
					return configErrorf(fmt.Sprintf(prefix+".capabilities.%s[%d]", set.name, i), "unknown capability %q", c)
				}
			}
		}
	}
	for i, rl := range p.Rlimits {
		if _, ok := rlimitNumber(rl.Type); !ok {
			return configErrorf(fmt.Sprintf(prefix+".rlimits[%d].type", i), "unknown rlimit %q", rl.Type)
		}
		if rl.Soft > rl.Hard {
			return configErrorf(fmt.Sprintf(prefix+".rlimits[%d].soft", i), "%d is above the hard limit %d", rl.Soft, rl.Hard)
		}
	}
	if p.Scheduler != nil {
		return unsupported(prefix+".scheduler", "the scheduler setting")
	}
	if p.IOPriority != nil {
		return unsupported(prefix+".ioPriority", "the I/O priority setting")
	}
	if p.ExecCPUAffinity != nil {
		return unsupported(prefix+".execCPUAffinity", "exec CPU affinity")
	}
	return nil
}

func deviceType(t string) (uint32, error) {
	switch t {
	case "c", "u":
		return unix.S_IFCHR, nil
	case "b":
		return unix.S_IFBLK, nil
	case "p":
		return unix.S_IFIFO, nil
	}
	return 0, errors.New("must be one of c, u, b, p")
}
