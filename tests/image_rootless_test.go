package tests

import (
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestRootlessImageRun runs "lamina run IMAGE" as an unprivileged user:
// the pull into the user's own store, the union through each driver the
// user may use (FUSE, and the kernel's overlayfs inside a user namespace),
// the container in a user namespace, a detached container with ps, logs,
// stop and rm; and limits, which need a delegated cgroup this user lacks,
// refused with a clear error and nothing left behind.
func TestRootlessImageRun(t *testing.T) {
	watchdog(t, 3*time.Minute)
	base, _ := rootlessBundle(t)
	requireFUSE(t)
	exe, err := os.ReadFile(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+"/unionmount", exe, 0o755); err != nil {
		t.Fatal(err)
	}
	host := startMemRegistry(t)
	ref := host + "/lamina/rootless:v1"
	pushImage(t, ref, v1.Config{Cmd: []string{"/bin/sh", "-c", "echo image-cmd"}, Env: []string{"PATH=/bin"}}, runImageLayers(t)...)
	// A home of its own: the store defaults to $XDG_DATA_HOME/lamina, the
	// state to $XDG_RUNTIME_DIR/lamina.
	for _, d := range []string{"home", "run"} {
		mustMkdirAll(t, base+"/"+d)
	}
	r := runCmd(t, 10*time.Second, "chown", "-R", rootlessUser, base+"/home", base+"/run", base+"/unionmount")
	if r.code != 0 {
		t.Fatalf("chown: %s", r.stderr)
	}
	lamina := func(t *testing.T, args ...string) cmdResult {
		t.Helper()
		argv := []string{"runuser", "-u", rootlessUser, "--"}
		if args[0] == "unshare" { // in a user namespace of the user's own
			argv, args = append(argv, "unshare", "-Urm"), args[1:]
		}
		argv = append(argv, "env", "HOME="+base+"/home", "XDG_DATA_HOME="+base+"/home", "XDG_RUNTIME_DIR="+base+"/run", base+"/lamina")
		return runCmd(t, 60*time.Second, append(argv, args...)...)
	}
	t.Cleanup(func() { lamina(t, "rm", "--force", "rl-detached") })
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{name: "fuse", args: []string{"run", "--rm", "--driver", "fuse", ref, "sh", "-c", "id -u; echo written > /tmp/f; cat /tmp/f /etc/gone"}, code: 1, stdout: "0\nwritten\n"},
		{name: "auto", args: []string{"run", "--rm", ref}, stdout: "image-cmd"},
		{name: "kernel overlay needs a user namespace", args: []string{"run", "--rm", "--driver", "overlay", ref, "true"}, code: 1, stderr: "the kernel driver needs root, or root of a user namespace"},
		{name: "kernel overlay in a user namespace", args: []string{"unshare", "run", "--rm", "--driver", "overlay", ref, "sh", "-c", "ls /etc; grep ' / / ' /proc/self/mountinfo"}, stdout: "passwd\n"},
		{name: "auto in a user namespace is the kernel's", args: []string{"unshare", "run", "--rm", ref, "sh", "-c", "grep ' / / ' /proc/self/mountinfo"}, stdout: " - overlay overlay "},
		{name: "limits need a delegated cgroup", args: []string{"run", "--rm", "--memory", "32m", ref, "true"}, code: 1, stderr: "limits cannot be applied: no cgroup: rootless without a cgroup delegated"},
		{name: "detached", args: []string{"run", "-d", "--name", "rl-detached", ref, "sh", "-c", "echo from-log; exec sleep 60"}, stdout: "rl-detached"},
		{name: "ps", args: []string{"ps"}, stdout: "Up "},
		{name: "logs", args: []string{"logs", "rl-detached"}, stdout: "from-log"},
		{name: "stop", args: []string{"stop", "-t", "1", "rl-detached"}, stdout: "rl-detached"},
		{name: "exited", args: []string{"ps", "-a"}, stdout: "Exited (137)"},
		{name: "rm", args: []string{"rm", "rl-detached"}},
		{name: "nothing left", args: []string{"ps", "-a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := lamina(t, tc.args...)
			// The detached container writes its log on its own time.
			for end := time.Now().Add(10 * time.Second); tc.name == "logs" && !strings.Contains(r.stdout, tc.stdout) && time.Now().Before(end); {
				time.Sleep(100 * time.Millisecond)
				r = lamina(t, tc.args...)
			}
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("lamina %v: exit %d (%v), want %d\nstdout: %s\nstderr: %s", tc.args, r.code, r.err, tc.code, r.stdout, r.stderr)
			}
			if tc.name == "nothing left" && strings.Count(r.stdout, "\n") > 1 {
				t.Errorf("containers left: %s", r.stdout)
			}
		})
	}
}
