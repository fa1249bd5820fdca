package runtime_test

import (
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccompAllowList is what the busybox shell of the allow-list case needs
// to run echo and the mkdir applet (in a child), plus what the Go runtime of init may
// call between loading the filter and its exec.
var seccompAllowList = []string{
	"execve", "exit", "exit_group", "brk", "mmap", "munmap", "mprotect", "madvise", "arch_prctl",
	"set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrandom", "prctl", "uname",
	"readlink", "newfstatat", "getuid", "getpid", "getppid", "gettid", "rt_sigaction",
	"rt_sigprocmask", "rt_sigreturn", "sigaltstack", "futex", "nanosleep", "sched_yield",
	"clock_gettime", "tgkill", "read", "write", "close", "fcntl",
	"clone", "clone3", "vfork", "wait4", "ioctl", "dup2", "getpgrp", "setpgid",
}

func TestSeccomp(t *testing.T) {
	requireRoot(t)
	eacces := uint(unix.EACCES)
	errnoOn := func(action specs.LinuxSeccompAction, names ...string) func(*specs.Spec) {
		return func(s *specs.Spec) {
			s.Root.Readonly = false
			s.Linux.Seccomp = &specs.LinuxSeccomp{
				DefaultAction: specs.ActAllow,
				Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
				Syscalls:      []specs.LinuxSyscall{{Names: append(names, "no_such_syscall"), Action: action}},
			}
		}
	}
	for _, tc := range []struct {
		name     string
		args     []string
		edit     func(*specs.Spec)
		wantCode int
		want     []string
	}{
		{name: "mkdir EPERM", args: []string{"sh", "-c", "mkdir /tmp/x; echo rc=$?; echo still works"},
			edit: errnoOn(specs.ActErrno, "mkdir", "mkdirat"),
			want: []string{"Operation not permitted", "rc=1", "still works"}},
		{name: "filter is on", args: []string{"grep", "Seccomp:", "/proc/self/status"},
			edit: errnoOn(specs.ActErrno, "mkdir", "mkdirat"), want: []string{"Seccomp:\t2"}},
		{name: "mkdir EPERM without no_new_privs", args: []string{"sh", "-c", "mkdir /tmp/x; grep NoNewPrivs /proc/self/status"},
			edit: func(s *specs.Spec) {
				errnoOn(specs.ActErrno, "mkdir", "mkdirat")(s)
				s.Process.NoNewPrivileges = false
			},
			want: []string{"Operation not permitted", "NoNewPrivs:\t0"}},
		{name: "user switch after the filter", args: []string{"sh", "-c", "id -u; mkdir /x"}, wantCode: 1,
			edit: func(s *specs.Spec) {
				errnoOn(specs.ActErrno, "mkdir", "mkdirat")(s)
				s.Process.NoNewPrivileges = false
				s.Process.User = specs.User{UID: 1000, GID: 1000}
			},
			want: []string{"1000", "Operation not permitted"}},
		{name: "default errno allow-list", args: []string{"sh", "-c", "echo hi; mkdir /tmp/x; echo rc=$?"},
			edit: func(s *specs.Spec) {
				s.Root.Readonly = false
				s.Linux.Seccomp = &specs.LinuxSeccomp{
					DefaultAction:   specs.ActErrno,
					DefaultErrnoRet: &eacces,
					Syscalls:        []specs.LinuxSyscall{{Names: seccompAllowList, Action: specs.ActAllow}},
				}
			},
			want: []string{"hi", "Permission denied", "rc=1"}},
		{name: "errnoRet", args: []string{"sh", "-c", "mkdir /tmp/x"}, wantCode: 1,
			edit: func(s *specs.Spec) {
				errnoOn(specs.ActErrno, "mkdir", "mkdirat")(s)
				s.Linux.Seccomp.Syscalls[0].ErrnoRet = &eacces
			},
			want: []string{"Permission denied"}},
		{name: "args condition", args: []string{"sh", "-c", "linux32 true; echo rc32=$?; linux64 true; echo rc64=$?"},
			edit: func(s *specs.Spec) {
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{
					Names: []string{"personality"}, Action: specs.ActErrno,
					Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x0008, Op: specs.OpEqualTo}}, // PER_LINUX32
				}}}
			},
			want: []string{"Operation not permitted", "rc32=1", "rc64=0"}},
		{name: "masked equal", args: []string{"sh", "-c", "touch /tmp/f; chmod 700 /tmp/f; echo rc700=$?; chmod 750 /tmp/f; echo rc750=$?"},
			edit: func(s *specs.Spec) {
				s.Root.Readonly = false
				// Refuse modes without any group bit: (mode & 070) == 0.
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
					{Names: []string{"chmod"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 1, Value: 0o070, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
					{Names: []string{"fchmodat"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 2, Value: 0o070, ValueTwo: 0, Op: specs.OpMaskedEqual}}},
				}}
			},
			want: []string{"rc700=1", "rc750=0"}},
		{name: "kill", args: []string{"sh", "-c", "exec mkdir /tmp/x"},
			edit: errnoOn(specs.ActKill, "mkdir", "mkdirat"), wantCode: 128 + int(unix.SIGSYS)},
		{name: "kill process", args: []string{"sh", "-c", "mkdir /tmp/x; echo shell goes on; exec mkdir /tmp/y"},
			edit: errnoOn(specs.ActKillProcess, "mkdir", "mkdirat"), wantCode: 128 + int(unix.SIGSYS),
			want: []string{"Bad system call", "shell goes on"}}, // the child mkdir, then the shell's exec of it
		{name: "close_range refused", args: []string{"sh", "-c", "ls /proc/self/fd | wc -l"},
			// A profile older than close_range (runtime-tools' default)
			// answers it with EPERM; with the filter loaded before the user
			// switch, init marks the fds close-on-exec through /proc/self/fd.
			// ls sees 0, 1, 2 and its directory fd: nothing leaked.
			edit: func(s *specs.Spec) {
				errnoOn(specs.ActErrno, "close_range")(s)
				s.Process.NoNewPrivileges = false
			},
			want: []string{"4"}},
		{name: "flags", args: []string{"sh", "-c", "mkdir /tmp/x"}, wantCode: 1,
			edit: func(s *specs.Spec) {
				errnoOn(specs.ActErrno, "mkdir", "mkdirat")(s)
				s.Linux.Seccomp.Flags = []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}
			},
			want: []string{"Operation not permitted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, tc.args, tc.edit)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("want %q in output:\n%s", w, out)
				}
			}
		})
	}
}

// TestSeccompDockerProfile runs containers under docker's default seccomp
// profile (from github.com/moby/profiles), with and without
// no_new_privs (without it, and without CAP_SYS_ADMIN in the default
// capabilities, init loads the filter before the user switch).
func TestSeccompDockerProfile(t *testing.T) {
	requireRoot(t)
	for _, nnp := range []bool{true, false} {
		name := map[bool]string{true: "no_new_privs", false: "privileged load"}[nnp]
		t.Run(name, func(t *testing.T) {
			code, out := run(t, []string{"sh", "-c", "mkdir /tmp/d && echo made; grep Seccomp: /proc/self/status"}, func(s *specs.Spec) {
				s.Root.Readonly = false
				s.Process.NoNewPrivileges = nnp
				p, err := mobyseccomp.GetDefaultProfile(s)
				if err != nil {
					t.Fatal(err)
				}
				s.Linux.Seccomp = p
			})
			if code != 0 || !strings.Contains(out, "made") || !strings.Contains(out, "Seccomp:\t2") {
				t.Fatalf("exit code %d, output:\n%s", code, out)
			}
		})
	}
}
