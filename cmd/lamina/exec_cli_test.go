package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// startCLIContainer creates and starts container id running sleep, with
// its stdio on a file, and force-deletes it in t.Cleanup.
func startCLIContainer(ctx context.Context, t *testing.T, root, id string) {
	t.Helper()
	b := cliBundle(t, root, []string{"sleep", "60"})
	t.Cleanup(func() { lamina(context.Background(), root, "delete", "--force", id).Run() })
	outFile, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cc := lamina(ctx, root, "create", "--bundle", b, id)
	cc.Stdout, cc.Stderr = outFile, outFile
	if err := cc.Run(); err != nil {
		out, _ := os.ReadFile(outFile.Name())
		t.Fatalf("create: %v: %s", err, out)
	}
	if out, err := lamina(ctx, root, "start", id).CombinedOutput(); err != nil {
		t.Fatalf("start: %v: %s", err, out)
	}
}

func TestCLIExec(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	startCLIContainer(ctx, t, root, "e1")

	out, err := lamina(ctx, root, "exec", "-e", "X=hi", "--cwd", "/bin", "-u", "1000:1000", "e1",
		"sh", "-c", `echo $X; pwd; cat /proc/self/status | grep ^Uid; exit 5`).CombinedOutput()
	if code := exitCode(err); code != 5 {
		t.Fatalf("exit code %d (%v), want 5; output %s", code, err, out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 3 || lines[0] != "hi" || lines[1] != "/bin" || !strings.HasPrefix(lines[2], "Uid:\t1000\t") {
		t.Errorf("output %q, want hi, /bin and uid 1000", out)
	}

	// -e replaces a variable config.json sets (the last value wins).
	if out, err := lamina(ctx, root, "exec", "-e", "TERM=dumb", "e1", "sh", "-c", "echo $TERM; env | grep -c ^TERM=").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "dumb\n1" {
		t.Errorf("exec -e TERM=dumb: %v: %q, want dumb and one TERM", err, out)
	}

	// --process with a process.json.
	pj := filepath.Join(t.TempDir(), "process.json")
	raw, _ := json.Marshal(&specs.Process{Args: []string{"sh", "-c", "echo from-json"}, Cwd: "/", Env: []string{"PATH=/bin"}})
	os.WriteFile(pj, raw, 0o644)
	if out, err := lamina(ctx, root, "exec", "--process", pj, "e1").CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "from-json" {
		t.Errorf("exec --process: %v: %q", err, out)
	}

	// --detach --pid-file returns with the process running.
	pidFile := filepath.Join(t.TempDir(), "pid")
	// The detached process keeps exec's stdio: a file, not a pipe.
	outFile, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	dc := lamina(ctx, root, "exec", "--detach", "--pid-file", pidFile, "e1", "sleep", "60")
	dc.Stdout, dc.Stderr = outFile, outFile
	if err := dc.Run(); err != nil {
		out, _ := os.ReadFile(outFile.Name())
		t.Fatalf("exec --detach: %v: %s", err, out)
	}
	b, err := os.ReadFile(pidFile)
	pid, perr := strconv.Atoi(string(b))
	if err != nil || perr != nil {
		t.Fatalf("pid file %q: %v %v", b, err, perr)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Errorf("detached process %d is not running: %v", pid, err)
	}
	syscall.Kill(pid, syscall.SIGKILL)

	// exec starts from the process Create read: the bundle's config.json
	// may be gone by now (runc exec does not need it either).
	stateOut, err := lamina(ctx, root, "state", "e1").Output()
	var st struct{ Bundle string }
	if err != nil || json.Unmarshal(stateOut, &st) != nil || st.Bundle == "" {
		t.Fatalf("state: %v: %s", err, stateOut)
	}
	if err := os.Rename(filepath.Join(st.Bundle, "config.json"), filepath.Join(st.Bundle, "config.json.away")); err != nil {
		t.Fatal(err)
	}
	out, err = lamina(ctx, root, "exec", "e1", "sh", "-c", "echo without-bundle").CombinedOutput()
	os.Rename(filepath.Join(st.Bundle, "config.json.away"), filepath.Join(st.Bundle, "config.json"))
	if err != nil || strings.TrimSpace(string(out)) != "without-bundle" {
		t.Errorf("exec with config.json gone: %v: %q", err, out)
	}

	// -t in the foreground: lamina relays the pty to its stdout (stdin
	// is not a terminal here) and passes the exit code on.
	out, err = lamina(ctx, root, "exec", "-t", "e1", "sh", "-c", "tty; test -t 1 && echo isatty; exit 4").CombinedOutput()
	if code := exitCode(err); code != 4 || !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "isatty") {
		t.Errorf("exec -t: exit code %d (%v), output %q; want 4, a /dev/pts name and isatty", code, err, out)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "tty detached without socket", args: []string{"exec", "-t", "-d", "e1", "true"}, want: "pass --console-socket"},
		{name: "console socket without tty", args: []string{"exec", "--console-socket", "/nonexistent.sock", "e1", "true"}, want: "--console-socket"},
		{name: "bad user", args: []string{"exec", "-u", "bob", "e1", "true"}, want: "--user: want UID[:GID]"},
		{name: "no command", args: []string{"exec", "e1"}, want: "COMMAND is required"},
		{name: "process and flags", args: []string{"exec", "--process", pj, "--cwd", "/", "e1"}, want: "--cwd: cannot be combined with --process"},
		{name: "unknown container", args: []string{"exec", "nope", "true"}, want: "container does not exist: nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := lamina(ctx, root, tc.args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("%v: %v: %q, want an error with %q", tc.args, err, out, tc.want)
			}
		})
	}
}

// TestCLIExecSignal checks that exec forwards a signal to the process.
func TestCLIExecSignal(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	startCLIContainer(ctx, t, root, "e2")
	wantTermForwarded(t, lamina(ctx, root, "exec", "e2", "sh", "-c", `trap "exit 7" TERM; echo ready; sleep 30 & wait`))
}
