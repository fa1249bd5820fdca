package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

func TestCLIFeatures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := lamina(ctx, "", "features").Output()
	if err != nil {
		t.Fatalf("features: %v", err)
	}
	var f features.Features
	if err := json.Unmarshal(out, &f); err != nil {
		t.Fatalf("features JSON: %v: %s", err, out)
	}
	if len(f.Hooks) != 6 || !slices.Contains(f.Hooks, "createRuntime") {
		t.Errorf("hooks %v, want all six kinds", f.Hooks)
	}
	if f.OCIVersionMax != specs.Version || f.Linux == nil {
		t.Fatalf("features %s", out)
	}
	if !slices.Contains(f.Linux.Namespaces, "pid") || !slices.Contains(f.Linux.Namespaces, "time") {
		t.Errorf("namespaces %v, want pid and time", f.Linux.Namespaces)
	}
	if !slices.Contains(f.Linux.Capabilities, "CAP_SYS_ADMIN") || !slices.Contains(f.MountOptions, "ro") {
		t.Errorf("capabilities %v, mount options %v", f.Linux.Capabilities, f.MountOptions)
	}
	if s := f.Linux.Seccomp; s == nil || s.Enabled == nil || !*s.Enabled || !slices.Contains(s.Actions, "SCMP_ACT_ERRNO") ||
		slices.Contains(s.Actions, "SCMP_ACT_NOTIFY") || !slices.Contains(s.Operators, "SCMP_CMP_MASKED_EQ") {
		t.Errorf("seccomp %+v, want enabled, with SCMP_ACT_ERRNO and SCMP_CMP_MASKED_EQ, without SCMP_ACT_NOTIFY", s)
	}
	if c := f.Linux.Cgroup; c == nil || !*c.V1 || !*c.V2 || *c.Systemd {
		t.Errorf("cgroup %+v, want v1, v2, no systemd", c)
	}
}

func TestCLIPs(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sh", "-c", "sleep 30 & wait"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		lamina(ctx, root, "delete", "--force", "c5").Run()
	})
	if out, err := lamina(ctx, root, "ps", "c5").CombinedOutput(); err == nil || !strings.Contains(string(out), "does not exist") {
		t.Errorf("ps of a missing container: %v: %s", err, out)
	}
	// The container's init keeps create's stdio: a file, not a pipe.
	outFile, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cc := lamina(ctx, root, "create", "--bundle", b, "c5")
	cc.Stdout, cc.Stderr = outFile, outFile
	if err := cc.Run(); err != nil {
		out, _ := os.ReadFile(outFile.Name())
		t.Fatalf("create: %v: %s", err, out)
	}
	if out, err := lamina(ctx, root, "start", "c5").CombinedOutput(); err != nil {
		t.Fatalf("start: %v: %s", err, out)
	}
	out, err := lamina(ctx, root, "state", "c5").Output()
	if err != nil {
		t.Fatalf("state: %v", err)
	}
	var s runtime.State
	if err := json.Unmarshal(out, &s); err != nil || s.Pid <= 0 {
		t.Fatalf("state %v: %s", err, out)
	}
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); len(pids) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("ps --format json gave %v, want init and its sleep", pids)
		}
		out, err := lamina(ctx, root, "ps", "--format", "json", "c5").Output()
		if err != nil {
			t.Fatalf("ps: %v", err)
		}
		if err := json.Unmarshal(out, &pids); err != nil {
			t.Fatalf("ps JSON: %v: %q", err, out)
		}
	}
	if !slices.Contains(pids, s.Pid) {
		t.Errorf("ps pids %v lack init %d", pids, s.Pid)
	}
	out, err = lamina(ctx, root, "ps", "c5").Output()
	if err != nil {
		t.Fatalf("ps table: %v", err)
	}
	table := string(out)
	if !strings.HasPrefix(table, "PID") || !strings.Contains(table, "sleep 30") ||
		!strings.Contains(table, strconv.Itoa(s.Pid)+" ") {
		t.Errorf("ps table lacks init %d or sleep:\n%s", s.Pid, table)
	}
	if out, err := lamina(ctx, root, "kill", "c5", "KILL").CombinedOutput(); err != nil {
		t.Fatalf("kill: %v: %s", err, out)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		out, err := lamina(ctx, root, "ps", "c5").CombinedOutput()
		if err != nil {
			if !strings.Contains(string(out), "not running") {
				t.Errorf("ps of a stopped container: %s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ps still succeeds 5s after SIGKILL")
		}
	}
}
