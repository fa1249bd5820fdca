package runtime_test

import (
	"fmt"
	"strings"
	"testing"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runtimeToolsRlimits are the limits of the OCI runtime-tools suite
// (validation/process_rlimits). RLIMIT_AS's soft 1 GiB is below the
// virtual size of lamina's init, so init must not run under it.
var runtimeToolsRlimits = []specs.POSIXRlimit{
	{Type: "RLIMIT_NOFILE", Hard: 4000, Soft: 3000},
	{Type: "RLIMIT_AS", Hard: 2 << 30, Soft: 1 << 30},
	{Type: "RLIMIT_CORE", Hard: 4 << 30, Soft: 3 << 30},
	{Type: "RLIMIT_DATA", Hard: 6 << 30, Soft: 5 << 30},
	{Type: "RLIMIT_FSIZE", Hard: 8 << 30, Soft: 7 << 30},
	{Type: "RLIMIT_STACK", Hard: 10 << 30, Soft: 9 << 30},
	{Type: "RLIMIT_CPU", Hard: 120, Soft: 60},
}

// limitsLine is the line of /proc/self/limits for rl, as the kernel
// prints it (a limit in bytes, seconds or a count, then its unit).
func limitsLine(t *testing.T, out string, name string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name) {
			return strings.Fields(strings.TrimPrefix(l, name))
		}
	}
	t.Fatalf("no %q in\n%s", name, out)
	return nil
}

// limitsNames maps rlimit types to their names in /proc/self/limits.
var limitsNames = map[string]string{
	"RLIMIT_NOFILE": "Max open files", "RLIMIT_AS": "Max address space", "RLIMIT_CORE": "Max core file size",
	"RLIMIT_DATA": "Max data size", "RLIMIT_FSIZE": "Max file size", "RLIMIT_STACK": "Max stack size",
	"RLIMIT_CPU": "Max cpu time", "RLIMIT_NPROC": "Max processes",
}

func checkLimits(t *testing.T, out string, rls []specs.POSIXRlimit) {
	t.Helper()
	for _, rl := range rls {
		f := limitsLine(t, out, limitsNames[rl.Type])
		if len(f) < 2 || f[0] != fmt.Sprint(rl.Soft) || f[1] != fmt.Sprint(rl.Hard) {
			t.Errorf("%s: /proc/self/limits says %v, want %d %d", rl.Type, f, rl.Soft, rl.Hard)
		}
	}
}

// TestRlimits checks process.rlimits in the container process, with
// limits that init itself could not run under: they apply only at the
// exec.
func TestRlimits(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		rls  []specs.POSIXRlimit
		edit func(*specs.Spec)
	}{
		{name: "runtime-tools", rls: runtimeToolsRlimits},
		{name: "runtime-tools with seccomp", rls: runtimeToolsRlimits, edit: func(s *specs.Spec) {
			p, err := mobyseccomp.GetDefaultProfile(s)
			if err != nil {
				t.Fatal(err)
			}
			s.Linux.Seccomp = p
		}},
		{name: "few fds and processes", rls: []specs.POSIXRlimit{
			{Type: "RLIMIT_NOFILE", Hard: 4, Soft: 4}, {Type: "RLIMIT_NPROC", Hard: 1, Soft: 1},
		}, edit: func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := run(t, []string{"cat", "/proc/self/limits"}, func(s *specs.Spec) {
				s.Process.Rlimits = tc.rls
				if tc.edit != nil {
					tc.edit(s)
				}
			})
			if code != 0 {
				t.Fatalf("exit code %d; output:\n%s", code, out)
			}
			checkLimits(t, out, tc.rls)
		})
	}
}

// TestExecRlimits checks process.rlimits of an exec'd process.
func TestExecRlimits(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, _, spec := startSleeper(t, r, nil)
	p := *spec.Process
	p.Args = []string{"cat", "/proc/self/limits"}
	p.Rlimits = runtimeToolsRlimits
	code, out := execOut(t, r, id, &p)
	if code != 0 {
		t.Fatalf("exit code %d; output:\n%s", code, out)
	}
	checkLimits(t, out, p.Rlimits)
}
