package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCLIKillZeroAndAll: "kill ID 0" checks that the container runs
// (exit status 0, then 1 once it has stopped), "kill --all ID KILL" ends
// it, and pause, state and resume work from the command line.
func TestCLIKillZeroAndAll(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sleep", "30"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	id := "killall"
	t.Cleanup(func() { lamina(context.Background(), root, "delete", "--force", id).Run() })
	outFile, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cc := lamina(ctx, root, "create", "--bundle", b, id)
	cc.Stdout, cc.Stderr = outFile, outFile
	if err := cc.Run(); err != nil {
		t.Fatalf("create: %v", err)
	}
	run := func(args ...string) error {
		t.Helper()
		out, err := lamina(ctx, root, args...).CombinedOutput()
		if err != nil {
			t.Logf("%v: %v: %s", args, err, out)
		}
		return err
	}
	if err := run("start", id); err != nil {
		t.Fatal("start failed")
	}
	if err := run("kill", id, "0"); err != nil {
		t.Errorf("kill ID 0 of a running container failed")
	}
	if err := run("pause", id); err != nil {
		t.Fatal("pause failed")
	}
	if out, _ := lamina(ctx, root, "state", id).Output(); !strings.Contains(string(out), `"status": "paused"`) {
		t.Errorf("state of a paused container: %s", out)
	}
	if err := run("resume", id); err != nil {
		t.Fatal("resume failed")
	}
	if err := run("kill", "--all", id, "KILL"); err != nil {
		t.Fatal("kill --all failed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for run("kill", id, "0") == nil {
		if time.Now().After(deadline) {
			t.Fatal("kill ID 0 still succeeds 5s after kill --all KILL")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
