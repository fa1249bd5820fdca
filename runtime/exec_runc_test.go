package runtime_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestExecMatchesRunc runs the same process.json with runc exec in a runc
// container and with Exec in a lamina container made from the same
// config, and compares what the process sees of itself.
func TestExecMatchesRunc(t *testing.T) {
	requireRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("needs runc to compare with")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// What may differ between runtimes (pids, cgroup paths) is left out.
	script := `id; grep -E '^(Cap|NoNewPrivs)' /proc/self/status; pwd; env | grep -v ^HOME= | sort; hostname; ls /proc/self/fd; umask; cat /proc/1/comm; cat /marker`
	edit := func(s *specs.Spec) { s.Linux.CgroupsPath, s.Hostname = "", "execbox" }
	procs := map[string]*specs.Process{}
	for name, p := range map[string]func(*specs.Process){
		"default": func(*specs.Process) {},
		"user and env": func(p *specs.Process) {
			p.User = specs.User{UID: 1000, GID: 100, AdditionalGids: []uint32{10, 20}}
			p.Env = append(p.Env, "FOO=bar")
			p.Cwd = "/tmp"
		},
		"capabilities": func(p *specs.Process) {
			p.Capabilities.Bounding = append(p.Capabilities.Bounding, "CAP_NET_ADMIN")
			p.Capabilities.Effective = append(p.Capabilities.Effective, "CAP_NET_ADMIN")
			p.Capabilities.Permitted = append(p.Capabilities.Permitted, "CAP_NET_ADMIN")
			p.NoNewPrivileges = false
		},
	} {
		base := runtime.DefaultSpec(false).Process
		base.Terminal = false
		base.Args = []string{"sh", "-c", script}
		p(base)
		procs[name] = base
	}

	// The runc container.
	runcBundle := newBundle(t, []string{"sleep", "60"}, edit)
	os.WriteFile(filepath.Join(runcBundle, "rootfs/marker"), []byte("only in the rootfs"), 0o644)
	runcRoot, id := t.TempDir(), newID(t)+"-runc"
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	rc := exec.CommandContext(ctx, runc, "--root", runcRoot, "run", "-d", "--bundle", runcBundle, id)
	rc.Stdin, rc.Stdout, rc.Stderr = devnull, devnull, devnull
	if err := rc.Run(); err != nil {
		t.Skipf("runc cannot run a container here: %v", err)
	}
	t.Cleanup(func() { exec.Command(runc, "--root", runcRoot, "delete", "-f", id).Run() })

	r := newRuntime(t)
	lid, _, _ := startSleeper(t, r, edit)
	for name, p := range procs {
		t.Run(name, func(t *testing.T) {
			pj := filepath.Join(t.TempDir(), "process.json")
			b, _ := json.Marshal(p)
			os.WriteFile(pj, b, 0o644)
			want, err := exec.CommandContext(ctx, runc, "--root", runcRoot, "exec", "--process", pj, id).CombinedOutput()
			if err != nil {
				t.Fatalf("runc exec: %v: %s", err, want)
			}
			code, got := execOut(t, r, lid, p)
			if code != 0 || got != string(want) {
				t.Errorf("lamina exec (exit %d):\n%s\nrunc exec:\n%s", code, got, want)
			}
		})
	}
}
