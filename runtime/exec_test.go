package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// startSleeper creates and starts a container whose init sleeps, with a
// file /marker in its rootfs only.
func startSleeper(t *testing.T, r *runtime.Runtime, edit func(*specs.Spec)) (string, *runtime.Container, *specs.Spec) {
	t.Helper()
	id := newID(t)
	var spec *specs.Spec
	bundle := newBundle(t, []string{"sleep", "60"}, func(s *specs.Spec) {
		s.Hostname = "execbox"
		if edit != nil {
			edit(s)
		}
		spec = s
	})
	if err := os.WriteFile(filepath.Join(bundle, "rootfs/marker"), []byte("only in the rootfs"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Root of a user namespace may be another host user: it must reach
	// the rootfs through t.TempDir's 0700 directories.
	for _, d := range []string{filepath.Dir(bundle), bundle} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := create(t, r, id, bundle)
	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	// Start returns before init has exec'd sleep.
	eventually(t, "init to exec sleep", func() bool {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(c.Pid) + "/comm")
		return string(b) == "sleep\n"
	})
	return id, c, spec
}

// execOut runs p in container id and returns its exit code and output.
func execOut(t *testing.T, r *runtime.Runtime, id string, p *specs.Process, opts ...runtime.CreateOption) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out syncBuffer
	proc, err := r.Exec(ctx, id, p, append([]runtime.CreateOption{runtime.WithStdio(nil, &out, &out)}, opts...)...)
	if err != nil {
		t.Fatalf("exec %v: %v", p.Args, err)
	}
	type res struct {
		code int
		err  error
	}
	ch := make(chan res, 1)
	go func() { c, err := proc.Wait(); ch <- res{c, err} }()
	select {
	case x := <-ch:
		if x.err != nil {
			t.Fatalf("wait: %v", x.err)
		}
		return x.code, out.String()
	case <-time.After(20 * time.Second):
		proc.Signal(unix.SIGKILL)
		<-ch
		t.Fatalf("exec %v did not exit in time", p.Args)
		return -1, ""
	}
}

// process is the container's own process with other args.
func process(s *specs.Spec, args ...string) *specs.Process {
	p := *s.Process
	p.Args = args
	return &p
}

func TestExec(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, _, spec := startSleeper(t, r, nil)
	for _, tc := range []struct {
		name     string
		p        *specs.Process
		wantCode int
		check    func(t *testing.T, out string)
	}{
		{name: "pid namespace", p: process(spec, "cat", "/proc/1/cmdline"), check: wantOut("sleep\x0060\x00")},
		{name: "hostname", p: process(spec, "hostname"), check: wantOut("execbox")},
		{name: "rootfs", p: process(spec, "cat", "/marker"), check: wantOut("only in the rootfs")},
		{name: "mount table", p: process(spec, "cat", "/proc/self/mountinfo"), check: noHostPaths},
		{name: "cgroup", p: process(spec, "sh", "-c", "cat /proc/self/cgroup; echo --; cat /proc/1/cgroup"), check: func(t *testing.T, out string) {
			self, init, _ := strings.Cut(out, "--\n")
			if self != init {
				t.Errorf("cgroups differ: exec\n%s\ninit\n%s", self, init)
			}
		}},
		{name: "user", p: func() *specs.Process {
			p := process(spec, "id")
			p.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10}}
			return p
		}(), check: wantOut("uid=1000 gid=1000 groups=10")},
		{name: "cwd and env", p: func() *specs.Process {
			p := process(spec, "sh", "-c", "pwd; echo $FOO")
			p.Cwd = "/tmp"
			p.Env = append(slices.Clone(p.Env), "FOO=bar")
			return p
		}(), check: wantOut("/tmp\nbar")},
		{name: "capabilities", p: process(spec, "grep", "^CapEff", "/proc/self/status"), check: wantOut("CapEff:\t0000000020000420")},
		{name: "no new privs", p: process(spec, "grep", "NoNewPrivs", "/proc/self/status"), check: wantOut("NoNewPrivs:\t1")},
		{name: "only stdio fds", p: process(spec, "ls", "/proc/self/fd"), check: wantOut("0\n1\n2\n3")},
		{name: "exit code", p: process(spec, "sh", "-c", "exit 7"), wantCode: 7},
		{name: "signal", p: process(spec, "sh", "-c", "kill -9 $$"), wantCode: 137},
		{name: "missing program", p: process(spec, "/no/such/program"), wantCode: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantCode == -1 {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				if _, err := r.Exec(ctx, id, tc.p); err == nil || !strings.Contains(err.Error(), "process.args[0]") {
					t.Fatalf("exec of a missing program: %v, want a process.args[0] error", err)
				}
				return
			}
			code, out := execOut(t, r, id, tc.p)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func TestExecDetachPidFile(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, c, spec := startSleeper(t, r, nil)
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	proc, err := r.Exec(ctx, id, process(spec, "sleep", "60"), runtime.WithStdio(nil, nil, nil), runtime.WithPidFile(pidFile))
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	t.Cleanup(func() { proc.Signal(unix.SIGKILL); proc.Wait() })
	b, err := os.ReadFile(pidFile)
	if err != nil || string(b) != strconv.Itoa(proc.Pid) {
		t.Fatalf("pid file %q (%v), want %d", b, err, proc.Pid)
	}
	for _, ns := range []string{"pid", "mnt", "uts", "net", "ipc", "cgroup"} {
		a, err1 := os.Readlink("/proc/" + strconv.Itoa(proc.Pid) + "/ns/" + ns)
		b, err2 := os.Readlink("/proc/" + strconv.Itoa(c.Pid) + "/ns/" + ns)
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("%s namespace: exec %s (%v), init %s (%v)", ns, a, err1, b, err2)
		}
	}
	pids, err := r.Pids(id)
	if err != nil || !slices.Contains(pids, proc.Pid) {
		t.Errorf("pids of the container %v (%v) lack the exec'd process %d", pids, err, proc.Pid)
	}
	if err := proc.Signal(unix.SIGTERM); err != nil {
		t.Fatalf("signal: %v", err)
	}
	if code, err := proc.Wait(); err != nil || code != 128+int(unix.SIGTERM) {
		t.Errorf("wait: %d %v, want %d", code, err, 128+int(unix.SIGTERM))
	}
}

func TestExecErrors(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	spec := runtime.DefaultSpec(false)
	spec.Process.Args = []string{"true"}
	spec.Process.Terminal = false
	if _, err := r.Exec(ctx, "nosuch", spec.Process); !errors.Is(err, runtime.ErrNotExist) {
		t.Errorf("exec into an unknown container: %v, want ErrNotExist", err)
	}

	id := newID(t)
	c, _ := create(t, r, id, newBundle(t, []string{"true"}, nil))
	if err := r.Start(id); err != nil {
		t.Fatal(err)
	}
	wait(t, r, c, 10*time.Second)
	p := process(spec, "true")
	if _, err := r.Exec(ctx, id, p); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("exec into a stopped container: %v, want ErrNotRunning", err)
	}

	id2, _, spec2 := startSleeper(t, r, nil)
	bad := process(spec2, "true")
	bad.Cwd = "relative"
	var ce *runtime.ConfigError
	if _, err := r.Exec(ctx, id2, bad); !errors.As(err, &ce) || ce.Field != "process.cwd" {
		t.Errorf("exec with a relative cwd: %v, want a ConfigError on process.cwd", err)
	}
}

func TestExecUserNamespace(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	m := []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	id, _, spec := startSleeper(t, r, func(s *specs.Spec) {
		userNS(s, m) // with 65536 ids
	})
	p := process(spec, "sh", "-c", "id -u; cat /proc/self/uid_map; hostname; sleep 60")
	p.User.UID = 1000
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	proc, err := r.Exec(ctx, id, p, runtime.WithStdio(nil, &out, &out))
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	t.Cleanup(func() { proc.Signal(unix.SIGKILL); proc.Wait() })
	eventually(t, "the exec'd process's output", func() bool { return strings.Count(out.String(), "\n") >= 3 })
	f := strings.Fields(out.String())
	if len(f) != 5 || f[0] != "1000" || f[1] != "0" || f[2] != "100000" || f[3] != "65536" || f[4] != "execbox" {
		t.Errorf("output %q, want uid 1000, the mapping 0 100000 65536 and hostname execbox", out.String())
	}
	// Seen from the host, uid 1000 of the namespace is 101000.
	st, err := os.ReadFile("/proc/" + strconv.Itoa(proc.Pid) + "/status")
	if err != nil || !strings.Contains(string(st), "\nUid:\t101000\t") {
		t.Errorf("host view of the exec'd process (%v):\n%s", err, st)
	}
}

// TestExecSeccomp: the container's seccomp filter, as Create read it,
// applies to an exec'd process as it does to init.
func TestExecSeccomp(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, _, spec := startSleeper(t, r, func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Linux.Seccomp = &specs.LinuxSeccomp{
			DefaultAction: specs.ActAllow,
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
			Syscalls:      []specs.LinuxSyscall{{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno}},
		}
	})
	// The filter is Create's: a config.json edited since does not count.
	st, err := r.State(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(st.Bundle, "config.json")); err != nil {
		t.Fatal(err)
	}
	code, out := execOut(t, r, id, process(spec, "sh", "-c", "mkdir /tmp/x; echo rc=$?; grep ^Seccomp: /proc/self/status"))
	if code != 0 || !strings.Contains(out, "rc=1") || !strings.Contains(out, "Seccomp:\t2") {
		t.Fatalf("exit code %d, output:\n%s\nwant mkdir refused (rc=1) under a filter (Seccomp: 2)", code, out)
	}
}

// TestExecTerminal: exec with process.terminal gets a pty of its own from
// the container's devpts (init has none here, so it is /dev/pts/0), with
// the configured size, as its controlling terminal on fds 0-2; the master
// arrives over the console socket and /dev/console is left alone.
func TestExecTerminal(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id, _, spec := startSleeper(t, r, nil)
	p := process(spec, "sh", "-c", "tty; stty size; test -t 0 && test -t 2 && echo fds; test -e /dev/console || echo noconsole; exit 5")
	p.Terminal = true
	p.ConsoleSize = &specs.Box{Height: 30, Width: 100}
	host, ctrSock, err := runtime.ConsolePair()
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	proc, err := r.Exec(ctx, id, p, runtime.WithConsole(ctrSock))
	ctrSock.Close()
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	master, err := runtime.ReceiveConsole(ctx, host)
	if err != nil {
		t.Fatalf("receive: %v", err)
	}
	var out syncBuffer
	relay, err := runtime.RelayConsole(master, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	code, err := proc.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := relay.Close(ctx); err != nil {
		t.Errorf("relay close: %v", err)
	}
	if want := "/dev/pts/0\r\n30 100\r\nfds\r\nnoconsole\r\n"; code != 5 || out.String() != want {
		t.Errorf("exit code %d, output %q; want 5 and %q", code, out.String(), want)
	}
	if _, err := r.Exec(ctx, id, p); !errors.Is(err, runtime.ErrNoConsoleSocket) {
		t.Errorf("exec with a terminal and no console socket: %v, want ErrNoConsoleSocket", err)
	}
}
