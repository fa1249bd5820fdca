package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// startContainerd runs a private containerd (its own root, state and
// socket in dir) for the rest of the test and returns the socket.
func startContainerd(t *testing.T, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "containerd.sock")
	cfg := filepath.Join(dir, "config.toml")
	conf := fmt.Sprintf("version = 2\nroot = %q\nstate = %q\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		// Shims outlive containerd; their tasks were deleted by the test.
		exec.Command("pkill", "-f", "containerd-shim-runc-v2 -namespace lamina-test").Run()
	})
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if exec.Command("ctr", "--address", sock, "version").Run() == nil {
			return sock
		}
	}
	b, _ := os.ReadFile(logf.Name())
	t.Fatalf("containerd did not answer on %s:\n%s", sock, b)
	return ""
}

// TestContainerdShim runs lamina as the runtime behind containerd's runc
// shim (ctr --runc-binary), the way containerd and the CRI call runc:
// create with --bundle, --pid-file and --log in JSON, start, state, exec,
// ps, pause, resume, kill and delete.
func TestContainerdShim(t *testing.T) {
	requireRoot(t)
	for _, p := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("needs %s (package containerd): %v", p, err)
		}
	}
	watchdog(t, 3*time.Minute)
	lamina := buildLamina(t)
	dir := t.TempDir()
	sock := startContainerd(t, dir)

	host := startMemRegistry(t)
	ref := host + "/lamina/ctrd:v1"
	pushImage(t, ref, v1.Config{Cmd: []string{"/bin/sh"}, Env: []string{"PATH=/bin"}}, runImageLayers(t)...)
	store, archive := filepath.Join(dir, "store"), filepath.Join(dir, "image.tar")
	for _, argv := range [][]string{
		{lamina, "pull", "--root", store, ref},
		{lamina, "save", "--root", store, "--format", "oci-archive", "-o", archive, ref},
	} {
		if r := runCmd(t, 60*time.Second, argv...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", argv[1:], r.code, r.stderr)
		}
	}
	ctr := func(t *testing.T, args ...string) cmdResult {
		t.Helper()
		return runCmd(t, 60*time.Second, append([]string{"ctr", "--address", sock, "--namespace", "lamina-test"}, args...)...)
	}
	if r := ctr(t, "images", "import", "--base-name", strings.TrimSuffix(ref, ":v1"), archive); r.code != 0 {
		t.Fatalf("ctr images import: %s", r.stderr)
	}
	t.Cleanup(func() {
		ctr(t, "task", "kill", "-s", "KILL", "bg")
		time.Sleep(200 * time.Millisecond)
		ctr(t, "task", "delete", "--force", "bg")
		ctr(t, "container", "delete", "bg")
	})
	run := []string{"run", "--runc-binary", lamina}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
	}{
		{name: "run", args: append(run, "--rm", ref, "fg", "sh", "-c", "echo $$; id -u"), stdout: "1\n0\n"},
		{name: "exit code", args: append(run, "--rm", ref, "fg2", "sh", "-c", "exit 7"), code: 7},
		{name: "detached", args: append(run, "-d", ref, "bg", "sh", "-c", "trap 'exit 9' TERM; while :; do sleep 1; done")},
		{name: "exec", args: []string{"task", "exec", "--exec-id", "e1", "bg", "sh", "-c", "echo exec-ok; cat /proc/1/cmdline"}, stdout: "exec-ok\nsh"},
		{name: "ps", args: []string{"task", "ps", "bg"}, stdout: "PID"},
		{name: "pause", args: []string{"task", "pause", "bg"}},
		{name: "paused", args: []string{"task", "ls"}, stdout: "PAUSED"},
		{name: "resume", args: []string{"task", "resume", "bg"}},
		{name: "running", args: []string{"task", "ls"}, stdout: "RUNNING"},
		{name: "kill", args: []string{"task", "kill", "bg"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ctr(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) {
				t.Fatalf("ctr %v: exit %d (%v), want %d\nstdout: %q\nstderr: %s", tc.args, r.code, r.err, tc.code, r.stdout, r.stderr)
			}
		})
	}
	// The TERM trap's exit code reaches containerd through lamina.
	var r cmdResult
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if r = ctr(t, "task", "ls"); strings.Contains(r.stdout, "STOPPED") {
			break
		}
	}
	if !strings.Contains(r.stdout, "STOPPED") {
		t.Fatalf("task did not stop after SIGTERM: %s", r.stdout)
	}
	if r := ctr(t, "task", "delete", "bg"); r.code != 0 || !strings.Contains(r.stdout+r.stderr, "9") {
		t.Errorf("task delete: exit %d, want the exit status 9 reported\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
