package runtime_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestValidateSeccompAndHooks checks that each bad linux.seccomp or hooks
// setting is a *ConfigError naming its field, and that the unsupported
// ones wrap ErrUnsupported.
func TestValidateSeccompAndHooks(t *testing.T) {
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	zero, big := 0, uint(5000)
	mkdir := func(edit func(*specs.LinuxSyscall)) *specs.LinuxSeccomp {
		c := specs.LinuxSyscall{Names: []string{"mkdir"}, Action: specs.ActErrno}
		edit(&c)
		return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{c}}
	}
	for _, tc := range []struct {
		name        string
		seccomp     *specs.LinuxSeccomp
		hooks       *specs.Hooks
		field       string
		unsupported bool
	}{
		{name: "bad default action", seccomp: &specs.LinuxSeccomp{DefaultAction: "SCMP_ACT_NOPE"}, field: "linux.seccomp.defaultAction"},
		{name: "missing default action", seccomp: &specs.LinuxSeccomp{}, field: "linux.seccomp.defaultAction"},
		{name: "bad action", seccomp: mkdir(func(c *specs.LinuxSyscall) { c.Action = "SCMP_ACT_NOPE" }), field: "linux.seccomp.syscalls[0].action"},
		{name: "notify action", seccomp: mkdir(func(c *specs.LinuxSyscall) { c.Action = specs.ActNotify }), field: "linux.seccomp.syscalls[0].action", unsupported: true},
		{name: "listener path", seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, ListenerPath: "/run/l.sock"}, field: "linux.seccomp.listenerPath", unsupported: true},
		{name: "no names", seccomp: mkdir(func(c *specs.LinuxSyscall) { c.Names = nil }), field: "linux.seccomp.syscalls[0].names"},
		{name: "bad operator", seccomp: mkdir(func(c *specs.LinuxSyscall) {
			c.Args = []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_NOPE"}}
		}), field: "linux.seccomp.syscalls[0].args[0].op"},
		{name: "argument index", seccomp: mkdir(func(c *specs.LinuxSyscall) {
			c.Args = []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}
		}), field: "linux.seccomp.syscalls[0].args[0].index"},
		{name: "errnoRet with allow", seccomp: mkdir(func(c *specs.LinuxSyscall) { c.Action, c.ErrnoRet = specs.ActLog, &big }), field: "linux.seccomp.syscalls[0].errnoRet"},
		{name: "errnoRet too big", seccomp: mkdir(func(c *specs.LinuxSyscall) { c.ErrnoRet = &big }), field: "linux.seccomp.syscalls[0].errnoRet"},
		{name: "defaultErrnoRet with allow", seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, DefaultErrnoRet: &big}, field: "linux.seccomp.defaultErrnoRet"},
		{name: "unknown arch", seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"SCMP_ARCH_PDP11"}}, field: "linux.seccomp.architectures[0]"},
		{name: "unknown flag", seccomp: &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}}, field: "linux.seccomp.flags[0]"},
		{name: "relative hook", hooks: &specs.Hooks{StartContainer: []specs.Hook{{Path: "/bin/true"}, {Path: "true"}}}, field: "hooks.startContainer[1].path"},
		{name: "zero timeout", hooks: &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}}, field: "hooks.poststart[0].timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := runtime.DefaultSpec(os.Geteuid() != 0)
			s.Process.Terminal = false
			s.Linux.Seccomp, s.Hooks = tc.seccomp, tc.hooks
			err := runtime.Validate(s, bundle)
			var ce *runtime.ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("Validate: %v, want a ConfigError for %s", err, tc.field)
			}
			if errors.Is(err, runtime.ErrUnsupported) != tc.unsupported {
				t.Errorf("Validate: %v; wraps ErrUnsupported: %v, want %v", err, !tc.unsupported, tc.unsupported)
			}
		})
	}
}
