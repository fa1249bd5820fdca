package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// setTerminal sets process.terminal in the bundle's config.json.
func setTerminal(t *testing.T, bundle string, on bool) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = on
	raw, _ = json.Marshal(&s)
	if err := os.WriteFile(p, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCLIRunTerminal is runc's "run" with "terminal": true in the
// foreground: lamina relays the pty to its own stdio (here pipes, not a
// terminal) and exits with the container's code.
func TestCLIRunTerminal(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sh", "-c", `busybox tty; read l; echo "got $l"; exit 4`})
	setTerminal(t, b, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := lamina(ctx, root, "run", "--bundle", b, "tty1")
	c.Stdin = strings.NewReader("typed\n")
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	if code := exitCode(err); code != 4 {
		t.Fatalf("exit code %d (%v), want 4; stdout %q, stderr %q", code, err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"/dev/pts/0\r\n", "got typed\r\n"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout %q lacks %q", stdout.String(), want)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("run left state behind: %v", ents)
	}
}

// TestCLICreateConsoleSocket is how containerd's shim and conmon use
// lamina: they listen on a console socket, "create --console-socket"
// sends the pty master there, "start" runs the process on it; "run
// --detach --console-socket" does both at once.
func TestCLICreateConsoleSocket(t *testing.T) {
	requireRootBusybox(t)
	for _, tc := range []struct {
		name  string
		steps [][]string // ID is appended to each
	}{
		{name: "create and start", steps: [][]string{{"create", "--console-socket", "SOCK", "--bundle", "BUNDLE"}, {"start"}}},
		{name: "run detached", steps: [][]string{{"run", "--detach", "--console-socket", "SOCK", "--bundle", "BUNDLE"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			b := cliBundle(t, root, []string{"sh", "-c", "busybox tty; echo on-the-console"})
			setTerminal(t, b, true)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			t.Cleanup(func() { lamina(context.Background(), root, "delete", "--force", "tty2").Run() })
			sock := filepath.Join(t.TempDir(), "console.sock")
			l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			type result struct {
				master *os.File
				err    error
			}
			got := make(chan result, 1)
			go func() {
				conn, err := l.AcceptUnix()
				if err != nil {
					got <- result{err: err}
					return
				}
				defer conn.Close()
				m, err := runtime.ReceiveConsole(ctx, conn)
				got <- result{m, err}
			}()
			for _, step := range tc.steps {
				args := append([]string{}, step...)
				for i, a := range args {
					args[i] = strings.NewReplacer("SOCK", sock, "BUNDLE", b).Replace(a)
				}
				// Pipes for stdio: in terminal mode the container's
				// init must not keep them (Output would wait for them).
				if out, err := lamina(ctx, root, append(args, "tty2")...).CombinedOutput(); err != nil {
					t.Fatalf("%s: %v: %s", args[0], err, out)
				}
			}
			r := <-got
			if r.err != nil {
				t.Fatalf("receive the master: %v", r.err)
			}
			defer r.master.Close()
			r.master.SetReadDeadline(time.Now().Add(20 * time.Second))
			var out bytes.Buffer
			if _, err := io.Copy(&out, r.master); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the terminal's output did not end: %q", out.String())
			}
			if out.String() != "/dev/pts/0\r\non-the-console\r\n" {
				t.Errorf("terminal output %q", out.String())
			}
		})
	}
}

// TestCLIConsoleErrors checks runc's rules: a terminal needs a console
// socket unless lamina run relays it in the foreground, and a console
// socket needs a terminal and a detached container.
func TestCLIConsoleErrors(t *testing.T) {
	requireRootBusybox(t)
	sock := filepath.Join(t.TempDir(), "unused.sock")
	for _, tc := range []struct {
		name     string
		terminal bool
		args     []string
		want     string
	}{
		{name: "create terminal without socket", terminal: true, args: []string{"create"}, want: "cannot allocate a terminal without a console socket"},
		{name: "run detached terminal without socket", terminal: true, args: []string{"run", "--detach"}, want: "pass --console-socket"},
		{name: "create socket without terminal", args: []string{"create", "--console-socket", sock}, want: "--console-socket: config.json: process.terminal: cannot use a console socket without a terminal"},
		{name: "run socket in the foreground", terminal: true, args: []string{"run", "--console-socket", sock}, want: "--console-socket: only with --detach"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			b := cliBundle(t, root, []string{"true"})
			setTerminal(t, b, tc.terminal)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			args := append(append(tc.args, "--bundle", b), "bad")
			out, err := lamina(ctx, root, args...).CombinedOutput()
			if exitCode(err) != 1 || !strings.Contains(string(out), tc.want) {
				t.Errorf("exit %d (%v), output %q; want exit 1 and %q", exitCode(err), err, out, tc.want)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("state left behind: %v", ents)
			}
		})
	}
}
