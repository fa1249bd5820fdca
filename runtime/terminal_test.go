package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// consoleServer listens on a unix socket, as a runc caller's console
// socket does, and delivers the pty master of the first connection.
func consoleServer(t *testing.T) (string, <-chan *os.File, <-chan error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	masters, errs := make(chan *os.File, 1), make(chan error, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			errs <- err
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		m, err := runtime.ReceiveConsole(ctx, c)
		if err != nil {
			errs <- err
			return
		}
		masters <- m
	}()
	return path, masters, errs
}

// readAll reads a pty master until the container's side is closed (EIO),
// bounded by d.
func readAll(t *testing.T, master *os.File, d time.Duration) string {
	t.Helper()
	master.SetReadDeadline(time.Now().Add(d))
	var b bytes.Buffer
	_, err := io.Copy(&b, master)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("terminal output did not end within %v; got %q", d, b.String())
	}
	return b.String()
}

// terminalScript prints what the terminal tests check: the tty name, its
// size, isatty of fds 0-2, a write through the controlling terminal, that
// /dev/console is the same pty, the pty's owner and a line read from it.
const terminalScript = `tty; stty size; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo isatty
echo ctty-ok >/dev/tty
[ "$(stat -c %t:%T /dev/console)" = "$(stat -c %t:%T "$(tty)")" ] && echo console-ok
stat -c owner=%u "$(tty)"
read line; echo "got $line"; exit 5`

// TestTerminalConsoleSocket runs containers in terminal mode with a
// console socket: the test receives the pty master over it, reads the
// container's output and types a line into it.
func TestTerminalConsoleSocket(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name    string
		edit    func(*specs.Spec)
		prepare func(t *testing.T, rootfs string)
		opts    []runtime.CreateOption
		want    []string
	}{
		{name: "root", want: []string{"owner=0"}},
		{name: "user 1000", edit: func(s *specs.Spec) { s.Process.User = specs.User{UID: 1000, GID: 1000} }, want: []string{"owner=1000"}},
		{name: "no pivot", opts: []runtime.CreateOption{runtime.WithNoPivot()}, want: []string{"owner=0"}},
		{name: "user namespace", edit: func(s *specs.Spec) {
			// Identity-mapped, so that the container's root can reach
			// the bundle in the test's root-owned temporary directory.
			m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 0, Size: 65536}}
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
			s.Linux.UIDMappings, s.Linux.GIDMappings = m, m
		}, want: []string{"owner=0"}},
		{name: "console node in the rootfs", edit: func(s *specs.Spec) {
			// No /dev tmpfs: the rootfs's own /dev, which has a console
			// device node; the pty is mounted over it.
			var ms []specs.Mount
			for _, m := range s.Mounts {
				if m.Destination != "/dev" {
					ms = append(ms, m)
				}
			}
			s.Mounts = ms
			s.Root.Readonly = false
		}, prepare: func(t *testing.T, rootfs string) {
			if err := unix.Mknod(filepath.Join(rootfs, "dev/console"), unix.S_IFCHR|0o600, int(unix.Mkdev(5, 1))); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"owner=0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, masters, errs := consoleServer(t)
			r := newRuntime(t)
			id := newID(t)
			bundle := newBundle(t, []string{"sh", "-c", terminalScript}, func(s *specs.Spec) {
				s.Process.Terminal = true
				s.Process.ConsoleSize = &specs.Box{Height: 30, Width: 100}
				if tc.edit != nil {
					tc.edit(s)
				}
			})
			if tc.prepare != nil {
				tc.prepare(t, filepath.Join(bundle, "rootfs"))
			}
			c, out := create(t, r, id, bundle, append(tc.opts, runtime.WithConsoleSocket(path))...)
			var master *os.File
			select {
			case master = <-masters:
			case err := <-errs:
				t.Fatalf("console server: %v", err)
			}
			defer master.Close()
			if err := r.Start(id); err != nil {
				t.Fatalf("start: %v", err)
			}
			if _, err := master.Write([]byte("hello\n")); err != nil {
				t.Fatalf("type into the terminal: %v", err)
			}
			code := wait(t, r, c, 20*time.Second)
			got := readAll(t, master, 10*time.Second)
			if code != 5 {
				t.Errorf("exit code %d, want 5", code)
			}
			for _, want := range append([]string{"/dev/pts/0\r\n", "30 100\r\n", "isatty\r\n", "ctty-ok\r\n", "console-ok\r\n", "got hello\r\n"}, tc.want...) {
				if !strings.Contains(got, want) {
					t.Errorf("terminal output lacks %q:\n%s", want, got)
				}
			}
			if s := out.String(); s != "" {
				t.Errorf("WithStdio got output in terminal mode: %q", s)
			}
		})
	}
}

// TestTerminalRelay is "lamina run" with a terminal in the foreground: a
// socket pair instead of a console socket, and RelayConsole copying the
// output.
func TestTerminalRelay(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	bundle := newBundle(t, []string{"sh", "-c", "tty; echo relayed; exit 3"}, func(s *specs.Spec) { s.Process.Terminal = true })
	host, ctrSock, err := runtime.ConsolePair()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	c, _ := create(t, r, id, bundle, runtime.WithConsole(ctrSock))
	ctrSock.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	master, err := runtime.ReceiveConsole(ctx, host)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	var out syncBuffer
	relay, err := runtime.RelayConsole(master, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	code := wait(t, r, c, 20*time.Second)
	if err := relay.Close(ctx); err != nil {
		t.Errorf("relay close: %v", err)
	}
	if code != 3 || out.String() != "/dev/pts/0\r\nrelayed\r\n" {
		t.Errorf("exit code %d, output %q; want 3 and the tty name and relayed", code, out.String())
	}
}

// TestTerminalErrors checks that process.terminal and the console socket
// must agree, and that a terminal init cannot set up is reported by
// Create with nothing left behind.
func TestTerminalErrors(t *testing.T) {
	requireRoot(t)
	pair := func(t *testing.T) runtime.CreateOption {
		host, ctr, err := runtime.ConsolePair()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close(); ctr.Close() })
		return runtime.WithConsole(ctr)
	}
	for _, tc := range []struct {
		name     string
		terminal bool
		edit     func(*specs.Spec)
		opt      func(t *testing.T) runtime.CreateOption
		wantErr  error
		wantText string
	}{
		{name: "terminal without console socket", terminal: true, wantErr: runtime.ErrNoConsoleSocket, wantText: "process.terminal"},
		{name: "console socket without terminal", opt: func(t *testing.T) runtime.CreateOption {
			return runtime.WithConsoleSocket(filepath.Join(t.TempDir(), "any.sock"))
		}, wantErr: runtime.ErrNoTerminal, wantText: "process.terminal"},
		{name: "nobody listening", terminal: true, opt: func(t *testing.T) runtime.CreateOption {
			return runtime.WithConsoleSocket(filepath.Join(t.TempDir(), "nope.sock"))
		}, wantText: "connect console socket"},
		{name: "no devpts", terminal: true, opt: pair, edit: func(s *specs.Spec) {
			var ms []specs.Mount
			for _, m := range s.Mounts {
				if m.Destination != "/dev/pts" {
					ms = append(ms, m)
				}
			}
			s.Mounts = ms
		}, wantText: "process.terminal: open /dev/ptmx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t)
			id := newID(t)
			bundle := newBundle(t, []string{"true"}, func(s *specs.Spec) {
				s.Process.Terminal = tc.terminal
				if tc.edit != nil {
					tc.edit(s)
				}
			})
			opts := []runtime.CreateOption{runtime.WithStdio(nil, nil, nil)}
			if tc.opt != nil {
				opts = append(opts, tc.opt(t))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := r.Create(ctx, id, bundle, opts...)
			if err == nil {
				go c.Wait()
				r.Delete(ctx, id, true)
				t.Fatal("create succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			assertGone(t, r, id, cgroupDirs(t, bundle))
		})
	}
}

// TestConsoleSocketLikeRunc gives the same bundle and the same kind of
// console socket to runc and to lamina: ReceiveConsole must accept
// runc's message, and both containers must see the same terminal.
func TestConsoleSocketLikeRunc(t *testing.T) {
	requireRoot(t)
	runc, err := exec.LookPath("runc")
	if err != nil {
		t.Skip("needs runc to compare with")
	}
	script := "tty; stty size; [ -t 0 ] && echo isatty"
	outputs := map[string]string{}
	for _, rt := range []string{"runc", "lamina"} {
		t.Run(rt, func(t *testing.T) {
			path, masters, errs := consoleServer(t)
			bundle := newBundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
				s.Process.Terminal = true
				s.Process.ConsoleSize = &specs.Box{Height: 12, Width: 34}
			})
			id := newID(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var waitExit func() int
			if rt == "runc" {
				root := t.TempDir()
				run := func(args ...string) {
					t.Helper()
					full := append([]string{"--root", root}, args...)
					if out, err := exec.CommandContext(ctx, runc, full...).CombinedOutput(); err != nil {
						t.Fatalf("runc %s: %v: %s", args[0], err, out)
					}
				}
				t.Cleanup(func() { exec.Command(runc, "--root", root, "delete", "--force", id).Run() })
				run("create", "--bundle", bundle, "--console-socket", path, id)
				run("start", id)
				waitExit = func() int { return 0 } // runc start does not wait; the output ended
			} else {
				r := newRuntime(t)
				c, _ := create(t, r, id, bundle, runtime.WithConsoleSocket(path))
				if err := r.Start(id); err != nil {
					t.Fatalf("start: %v", err)
				}
				waitExit = func() int { return wait(t, r, c, 20*time.Second) }
			}
			select {
			case m := <-masters:
				defer m.Close()
				outputs[rt] = readAll(t, m, 20*time.Second)
			case err := <-errs:
				t.Fatalf("receive %s's master: %v", rt, err)
			}
			if code := waitExit(); code != 0 {
				t.Errorf("exit code %d", code)
			}
		})
	}
	if outputs["lamina"] != outputs["runc"] || !strings.Contains(outputs["runc"], "12 34") {
		t.Errorf("terminal output: lamina %q, runc %q", outputs["lamina"], outputs["runc"])
	}
}
