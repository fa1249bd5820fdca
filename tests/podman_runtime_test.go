package tests

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// podmanStep is one podman call of the life cycle; its normalized output
// and exit code must be the same with lamina and runc as the runtime.
type podmanStep struct {
	name string
	argv []string // after "podman --runtime RT"; NAME is the container's name
	// check, when set, also checks the result (once per runtime).
	check func(t *testing.T, rt string, r cmdResult)
	// wait, when set, is polled (with the container's name) before the
	// step runs.
	wait func(e *podmanEnv, t *testing.T, name string) bool
}

// TestPodmanRuntime: podman --runtime lamina through the common life
// cycle, compared with podman --runtime runc: run in the foreground with
// its exit code, the cgroup view without a cgroup namespace, tmpfs and
// sysctl options, run -d, logs, exec (with a tty too), pause, unpause,
// stop, kill, rm, and memory and pids limits.
func TestPodmanRuntime(t *testing.T) {
	requirePodman(t)
	watchdog(t, 3*time.Minute)
	lamina := buildLamina(t)
	e := newPodmanEnv(t, lamina)
	const img = "localhost/lamina-base:test"
	e.importBase(t, img)

	cgroupFile := `f() { for p in "$@"; do [ -e "$p" ] && { cat "$p"; return; }; done; }; `
	steps := []podmanStep{
		{name: "run exit code", argv: []string{"run", "--rm", "--network", "none", img, "sh", "-c", "echo out; echo err >&2; exit 3"},
			check: wantCode(3)},
		{name: "cgroup view", argv: []string{"run", "--rm", "--network", "none", img, "sh", "-c",
			"cat /proc/self/cgroup; ls /sys/fs/cgroup; ls /sys/fs/cgroup/* | head -50"}},
		{name: "read-only, tmpfs, sysctl", argv: []string{"run", "--rm", "--network", "none", "--read-only", "--tmpfs", "/scratch",
			"--tmpfs", "/etc:ro", "--sysctl", "net.ipv4.ip_forward=1", img, "sh", "-c",
			"touch /x 2>/dev/null || echo root-ro; touch /scratch/a /tmp/b /run/c && echo tmpfs-rw; cat /etc/keep; touch /etc/y 2>/dev/null || echo etc-ro; cat /proc/sys/net/ipv4/ip_forward"},
			check: wantOutput("root-ro\ntmpfs-rw\nkeep\netc-ro\n1\n")},
		{name: "run -d", argv: []string{"run", "-d", "--network", "none", "--name", "NAME", img, "sh", "-c",
			`echo started; trap "echo term; exit 0" TERM; while :; do sleep 1 & wait $!; done`}},
		{name: "logs", argv: []string{"logs", "NAME"}, wait: func(e *podmanEnv, t *testing.T, name string) bool {
			return strings.Contains(e.run(t, "logs", name).stdout, "started")
		}},
		{name: "exec", argv: []string{"exec", "NAME", "sh", "-c", "echo in-exec; id; exit 4"}, check: wantCode(4)},
		{name: "exec -t", argv: []string{"exec", "-t", "NAME", "sh", "-c", "tty >/dev/null && echo tty"}, check: wantOutput("tty\r\n")},
		{name: "exec missing", argv: []string{"exec", "NAME", "/nonexistent"}, check: wantCode(127)},
		{name: "pause", argv: []string{"pause", "NAME"}},
		{name: "paused", argv: []string{"inspect", "--format", "{{.State.Status}}", "NAME"}, check: wantOutput("paused\n")},
		{name: "unpause", argv: []string{"unpause", "NAME"}},
		{name: "running", argv: []string{"inspect", "--format", "{{.State.Status}}", "NAME"}, check: wantOutput("running\n")},
		{name: "stop", argv: []string{"stop", "--time", "20", "NAME"}},
		{name: "logs after stop", argv: []string{"logs", "NAME"}, check: wantOutput("started\nterm\n")},
		{name: "exit code after stop", argv: []string{"inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "NAME"},
			check: wantOutput("exited 0\n")},
		{name: "rm", argv: []string{"rm", "NAME"}},
		{name: "run -d to kill", argv: []string{"run", "-d", "--network", "none", "--name", "NAME", img, "sleep", "1000"}},
		{name: "kill", argv: []string{"kill", "NAME"}},
		{name: "wait", argv: []string{"wait", "NAME"}, check: wantOutput("137\n")},
		{name: "rm killed", argv: []string{"rm", "NAME"}},
		{name: "limits seen", argv: []string{"run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "20", img, "sh", "-c",
			cgroupFile + "f /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max; f /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max"},
			check: wantOutput("67108864\n20\n")},
		{name: "memory limit kills", argv: []string{"run", "--rm", "--network", "none", "--memory", "32m", "--memory-swap", "32m", img, "sh", "-c",
			"head -c 100000000 /dev/zero | tail -n 1 >/dev/null"}, check: wantCode(137)},
		// The limit leaves room for the runtime's own start: runc init
		// is a Go program whose threads count against pids.max until it
		// execs the command, and at 5 it sometimes died first ("cannot
		// start a container that has stopped", exit 126).
		{name: "pids limit stops forks", argv: []string{"run", "--rm", "--network", "none", "--pids-limit", "16", img, "sh", "-c",
			"i=0; while [ $i -lt 24 ]; do sleep 5 & i=$((i+1)); done; echo unexpected"}, check: wantCode(2)},
	}
	got := map[string][]string{}
	for _, rt := range []string{"runc", "lamina"} {
		name := fmt.Sprintf("rt-%s-%d", rt, os.Getpid())
		for _, s := range steps {
			if s.wait != nil {
				waitFor(t, rt+": "+s.name, func() bool { return s.wait(e, t, name) })
			}
			argv := append([]string{"--runtime", rt}, s.argv...)
			for i, a := range argv {
				if a == "NAME" {
					argv[i] = name
				}
			}
			r := e.run(t, argv...)
			if s.check != nil {
				s.check(t, rt+": "+s.name, r)
			} else if r.code != 0 {
				t.Errorf("%s: %s: exit %d\n%s%s", rt, s.name, r.code, r.stdout, r.stderr)
			}
			got[rt] = append(got[rt], fmt.Sprintf("exit %d\n%s", r.code, normalize(r.stdout, name)))
		}
	}
	for i, s := range steps {
		if got["runc"][i] != got["lamina"][i] {
			t.Errorf("%s: lamina and runc differ\nrunc:\n%s\nlamina:\n%s", s.name, got["runc"][i], got["lamina"][i])
		}
	}
}

func wantCode(code int) func(*testing.T, string, cmdResult) {
	return func(t *testing.T, what string, r cmdResult) {
		t.Helper()
		if r.code != code {
			t.Errorf("%s: exit %d, want %d\n%s%s", what, r.code, code, r.stdout, r.stderr)
		}
	}
}

func wantOutput(out string) func(*testing.T, string, cmdResult) {
	return func(t *testing.T, what string, r cmdResult) {
		t.Helper()
		if r.code != 0 || r.stdout != out {
			t.Errorf("%s: exit %d, output %q, want %q\n%s", what, r.code, r.stdout, out, r.stderr)
		}
	}
}
