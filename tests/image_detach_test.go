package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestImageRunDetached runs containers with "lamina run -d IMAGE" and
// manages them with the docker-style companions: logs, logs -f, ps, stop
// and rm.
func TestImageRunDetached(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	watchdog(t, 120*time.Second)
	lamina := buildLamina(t)
	host := startMemRegistry(t)
	ref := host + "/lamina/detach:v1"
	// SIGTERM ends it with status 7 (a shell as pid 1 ignores signals it
	// does not trap; wait is interrupted by trapped ones).
	script := `echo out-line; echo err-line >&2; trap 'echo stopping; exit 7' TERM; while :; do busybox sleep 1 & wait $!; done`
	pushImage(t, ref, v1.Config{Cmd: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/bin"}}, runImageLayers(t)...)
	storeDir, state := t.TempDir(), t.TempDir()
	lam := func(t *testing.T, args ...string) cmdResult {
		t.Helper()
		argv := append([]string{lamina, args[0], "--root", state, "--store", storeDir}, args[1:]...)
		return runCmd(t, 60*time.Second, argv...)
	}
	must := func(t *testing.T, args ...string) string {
		t.Helper()
		r := lam(t, args...)
		if r.code != 0 || r.err != nil {
			t.Fatalf("lamina %v: exit %d (%v)\nstdout: %s\nstderr: %s", args, r.code, r.err, r.stdout, r.stderr)
		}
		return r.stdout
	}
	name := fmt.Sprintf("detached-%d", os.Getpid())
	t.Cleanup(func() { lam(t, "rm", "--force", name); lam(t, "rm", "--force", name+"-k") })

	if out := must(t, "run", "-d", "--driver", "fuse", "--name", name, ref); strings.TrimSpace(out) != name {
		t.Fatalf("run -d printed %q, want the name %q", out, name)
	}
	t.Run("name taken", func(t *testing.T) {
		r := lam(t, "run", "-d", "--driver", "fuse", "--name", name, ref)
		if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, name) {
			t.Errorf("want exit 1 and one error line naming %s, got exit %d: %q", name, r.code, r.stderr)
		}
	})
	t.Run("logs", func(t *testing.T) {
		var out string
		for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if out = must(t, "logs", name); strings.Contains(out, "err-line") {
				break
			}
		}
		if !strings.Contains(out, "out-line\n") || !strings.Contains(out, "err-line\n") {
			t.Errorf("logs = %q, want out-line and err-line", out)
		}
	})
	t.Run("ps lists it up", func(t *testing.T) {
		out := must(t, "ps")
		if !strings.Contains(out, name) || !strings.Contains(out, "Up ") || !strings.Contains(out, ref) {
			t.Errorf("ps output lacks %s, Up or the image:\n%s", name, out)
		}
		var infos []struct{ Name, State string }
		if err := json.Unmarshal([]byte(must(t, "ps", "--format", "json")), &infos); err != nil {
			t.Fatal(err)
		}
		if len(infos) != 1 || infos[0].Name != name || infos[0].State != "running" {
			t.Errorf("ps --format json = %+v, want %s running", infos, name)
		}
	})

	// logs -f runs until the container stops.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	follow := exec.CommandContext(ctx, lamina, "logs", "--store", storeDir, "-f", name)
	var followOut strings.Builder
	follow.Stdout = &followOut
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Run("stop sends the stop signal", func(t *testing.T) {
		must(t, "stop", "-t", "20", name)
		if out := must(t, "ps"); strings.Contains(out, name) {
			t.Errorf("ps still lists the stopped container:\n%s", out)
		}
		if out := must(t, "ps", "-a"); !strings.Contains(out, "Exited (7)") {
			t.Errorf("ps -a does not show Exited (7):\n%s", out)
		}
	})
	t.Run("logs -f ends when it stops", func(t *testing.T) {
		if err := follow.Wait(); err != nil {
			t.Fatalf("logs -f: %v", err)
		}
		if out := followOut.String(); !strings.Contains(out, "out-line") || !strings.Contains(out, "stopping") {
			t.Errorf("logs -f = %q, want out-line ... stopping", out)
		}
	})
	t.Run("name of a stopped container is still taken", func(t *testing.T) {
		r := lam(t, "run", "--rm", "--driver", "fuse", "--name", name, ref, "true")
		if r.code != 1 || !strings.Contains(r.stderr, "lamina rm it first") {
			t.Errorf("run --name of a stopped container's name: exit %d, stderr %q; want a refusal", r.code, r.stderr)
		}
	})
	t.Run("stop kills after the timeout", func(t *testing.T) {
		k := name + "-k"
		must(t, "run", "-d", "--driver", "fuse", "--name", k, ref, "busybox", "sleep", "1000")
		if r := lam(t, "rm", k); r.code == 0 || !strings.Contains(r.stderr, "running") {
			t.Errorf("rm of a running container: exit %d, stderr %q; want a refusal naming it running", r.code, r.stderr)
		}
		must(t, "stop", "-t", "1", k) // sleep as pid 1 ignores SIGTERM
		out := must(t, "ps", "-a")
		if !strings.Contains(out, "Exited (137)") {
			t.Errorf("ps -a does not show Exited (137):\n%s", out)
		}
		t.Logf("ps -a:\n%s", out)
		must(t, "rm", k)
	})
	t.Run("rm removes it and its upper", func(t *testing.T) {
		ups, _ := filepath.Glob(filepath.Join(storeDir, "containers", "*", "upper"))
		if len(ups) != 1 {
			t.Fatalf("want one container upper, got %v", ups)
		}
		must(t, "rm", name)
		if _, err := os.Stat(ups[0]); !os.IsNotExist(err) {
			t.Errorf("rm left the upper: %v", err)
		}
		if out := must(t, "ps", "-a"); strings.Contains(out, name) {
			t.Errorf("ps -a still lists it:\n%s", out)
		}
		if mi := mountinfoFor(filepath.Join(storeDir, "containers")); mi != nil {
			t.Errorf("a mount is left under the store: %+v", mi)
		}
	})
}
