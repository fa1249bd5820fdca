package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestMain lets the test binary act as the lamina binary: as a container
// init when runtime.Create re-executes it, and as the CLI when a test runs
// it with LAMINA_TEST_MAIN=1.
func TestMain(m *testing.M) {
	if runtime.IsInit() {
		if err := runtime.Init(); err != nil {
			os.Stderr.WriteString("lamina init: " + err.Error() + "\n")
		}
		os.Exit(1)
	}
	if os.Getenv("LAMINA_TEST_MAIN") == "1" {
		os.Exit(execute(context.Background(), os.Args[1:]))
	}
	os.Exit(m.Run())
}

func requireRootBusybox(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (busybox-static; scripts/setup.sh installs it)")
	}
}

// lamina returns a command running the CLI, with --root root unless root
// is empty.
func lamina(ctx context.Context, root string, args ...string) *exec.Cmd {
	// Global flags go after the subcommand until root.go has them as
	// persistent flags.
	full := args
	if root != "" {
		full = append([]string{args[0], "--root", root}, args[1:]...)
	}
	c := exec.CommandContext(ctx, os.Args[0], full...)
	c.Env = append(os.Environ(), "LAMINA_TEST_MAIN=1")
	c.WaitDelay = time.Second
	return c
}

// cliBundle writes a busybox bundle with config from "lamina spec".
// editBundle rewrites bundle b's config.json through edit.
func editBundle(t *testing.T, b string, edit func(*specs.Spec)) {
	t.Helper()
	var s specs.Spec
	raw, err := os.ReadFile(filepath.Join(b, "config.json"))
	if err == nil {
		err = json.Unmarshal(raw, &s)
	}
	if err != nil {
		t.Fatalf("read config.json: %v", err)
	}
	edit(&s)
	if raw, err = json.Marshal(&s); err == nil {
		err = os.WriteFile(filepath.Join(b, "config.json"), raw, 0o644)
	}
	if err != nil {
		t.Fatalf("write config.json: %v", err)
	}
}

func cliBundle(t *testing.T, root string, args []string) string {
	t.Helper()
	b := t.TempDir()
	rootfs := filepath.Join(b, "rootfs")
	os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "sleep", "ls", "echo", "cat"} {
		os.Symlink("busybox", filepath.Join(rootfs, "bin", a))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := lamina(ctx, "", "spec", "--bundle", b).CombinedOutput(); err != nil {
		t.Fatalf("spec: %v: %s", err, out)
	}
	editBundle(t, b, func(s *specs.Spec) {
		s.Process.Terminal = false
		s.Process.Args = args
		s.Linux.CgroupsPath = "/lamina-cli-test/" + filepath.Base(b)
	})
	t.Cleanup(func() {
		for _, d := range []string{"memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer", "systemd", "unified", ""} {
			os.Remove(filepath.Join("/sys/fs/cgroup", d, "lamina-cli-test"))
		}
	})
	return b
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestCLIRunExitCode(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sh", "-c", "echo out; exit 3"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lamina(ctx, root, "run", "--bundle", b, "c1").CombinedOutput()
	if code := exitCode(err); code != 3 {
		t.Fatalf("exit code %d (%v), want 3; output %s", code, err, out)
	}
	if strings.TrimSpace(string(out)) != "out" {
		t.Errorf("output %q", out)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("run left state behind: %v", ents)
	}
}

func TestCLILifecycle(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sleep", "30"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Cleanup(func() { lamina(context.Background(), root, "delete", "--force", "c2").Run() })
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The container's init keeps create's stdio: a file, not a pipe
	// that would never reach EOF.
	outFile, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cc := lamina(ctx, root, "create", "--bundle", b, "--pid-file", pidFile, "c2")
	cc.Stdout, cc.Stderr = outFile, outFile
	if err := cc.Run(); err != nil {
		out, _ := os.ReadFile(outFile.Name())
		t.Fatalf("create: %v: %s", err, out)
	}
	state := func() runtime.State {
		t.Helper()
		out, err := lamina(ctx, root, "state", "c2").Output()
		if err != nil {
			t.Fatalf("state: %v", err)
		}
		var s runtime.State
		if err := json.Unmarshal(out, &s); err != nil {
			t.Fatalf("state JSON: %v: %s", err, out)
		}
		return s
	}
	s := state()
	pid, _ := os.ReadFile(pidFile)
	if s.Status != specs.StateCreated || s.ID != "c2" || s.Bundle != b || string(pid) != strings.TrimSpace(string(must(json.Marshal(s.Pid)))) {
		t.Fatalf("state after create %+v, pid file %q", s, pid)
	}
	if out, err := lamina(ctx, root, "start", "c2").CombinedOutput(); err != nil {
		t.Fatalf("start: %v: %s", err, out)
	}
	if s := state(); s.Status != specs.StateRunning {
		t.Fatalf("status after start %s", s.Status)
	}
	out, err := lamina(ctx, root, "list", "--format", "json").Output()
	if err != nil || !strings.Contains(string(out), `"id":"c2"`) {
		t.Errorf("list: %v %s", err, out)
	}
	if out, err := lamina(ctx, root, "delete", "c2").CombinedOutput(); err == nil {
		t.Errorf("delete of a running container succeeded: %s", out)
	}
	if out, err := lamina(ctx, root, "kill", "c2", "KILL").CombinedOutput(); err != nil {
		t.Fatalf("kill: %v: %s", err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for state().Status != specs.StateStopped {
		if time.Now().After(deadline) {
			t.Fatal("still not stopped 5s after SIGKILL")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := lamina(ctx, root, "delete", "c2").CombinedOutput(); err != nil {
		t.Fatalf("delete: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "c2")); err == nil {
		t.Errorf("state dir left behind")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestCLILogJSON checks the log line containerd's shim reads on failure.
func TestCLILogJSON(t *testing.T) {
	root := t.TempDir()
	log := filepath.Join(t.TempDir(), "log.json")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := lamina(ctx, root, "start", "--log", log, "--log-format", "json", "nope").Run()
	if exitCode(err) != 1 {
		t.Fatalf("start of a missing container: %v", err)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last map[string]any
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if err := json.Unmarshal(sc.Bytes(), &last); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
	}
	if last["level"] != "error" || !strings.Contains(last["msg"].(string), "does not exist") {
		t.Errorf("last log line %v", last)
	}
}

// TestCLIRunSignal checks that run forwards a signal to the container.
func TestCLIRunSignal(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sh", "-c", `trap "exit 7" TERM; echo ready; sleep 30 & wait`})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wantTermForwarded(t, lamina(ctx, root, "run", "--bundle", b, "c3"))
}

// wantTermForwarded starts c, a lamina command running `trap "exit 7"
// TERM; echo ready; ...` in a container, waits for "ready", sends lamina
// SIGTERM and checks that the container's process got it (exit code 7).
func wantTermForwarded(t *testing.T, c *exec.Cmd) {
	t.Helper()
	stdout, _ := c.StdoutPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("first line %q", line)
	}
	c.Process.Signal(syscall.SIGTERM)
	if code := exitCode(c.Wait()); code != 7 {
		t.Fatalf("exit code %d, want 7 (SIGTERM forwarded to the trap)", code)
	}
}

// TestCLIPreserveFDs passes one extra fd; the container writes to it.
func TestCLIPreserveFDs(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sh", "-c", "echo via-fd3 >&3; ls /proc/self/fd"})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := lamina(ctx, root, "run", "--preserve-fds", "1", "--bundle", b, "c4")
	c.ExtraFiles = []*os.File{w}
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	err = c.Run()
	w.Close()
	if err != nil {
		t.Fatalf("run: %v: %s", err, out.String())
	}
	got := make([]byte, 64)
	n, _ := r.Read(got)
	if string(got[:n]) != "via-fd3\n" {
		t.Errorf("fd 3 got %q", got[:n])
	}
	// ls itself opens fd 4 for the directory.
	if fds := strings.Fields(out.String()); strings.Join(fds, " ") != "0 1 2 3 4" {
		t.Errorf("container fds %q, want 0 1 2 3 4", fds)
	}
}
