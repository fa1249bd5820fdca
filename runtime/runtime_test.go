package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// TestMain turns the test binary into a container init when Create
// re-executes it (Create runs /proc/self/exe).
func TestMain(m *testing.M) {
	if runtime.IsInit() {
		if err := runtime.Init(); err != nil {
			fmt.Fprintf(os.Stderr, "lamina init: %v\n", err)
		}
		os.Exit(1)
	}
	code := m.Run()
	// The tests use cgroupsPath /lamina-test/ID; remove the parents.
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/lamina-test")
	for _, d := range append(dirs, "/sys/fs/cgroup/lamina-test") {
		os.Remove(d)
	}
	os.Exit(code)
}

// requireRoot skips tests that create namespaces, mounts and cgroups.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates namespaces, mounts and cgroups")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (busybox-static; scripts/setup.sh installs it)")
	}
}

var busyboxApplets = []string{"sh", "echo", "cat", "hostname", "sleep", "true", "false", "ps", "id", "ls", "head", "tail", "dd", "grep", "wc", "mount", "tty", "stty", "stat"}

// newBundle builds BUNDLE/rootfs from /bin/busybox and a config.json from
// the default spec (no terminal) with args, then lets edit change it.
func newBundle(t *testing.T, args []string, edit func(*specs.Spec)) string {
	t.Helper()
	bundle := t.TempDir()
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	s := runtime.DefaultSpec(false)
	s.Process.Terminal = false
	s.Process.Args = args
	s.Linux.CgroupsPath = "/lamina-test/" + filepath.Base(bundle)
	if edit != nil {
		edit(s)
	}
	writeSpec(t, bundle, s)
	return bundle
}

func writeSpec(t *testing.T, bundle string, s *specs.Spec) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newRuntime(t *testing.T) *runtime.Runtime {
	t.Helper()
	r, err := runtime.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var idSeq int

func newID(t *testing.T) string {
	idSeq++
	return fmt.Sprintf("t%d-%d", os.Getpid(), idSeq)
}

// create creates a container whose output goes to the returned buffer and
// deletes it (forcefully) in t.Cleanup.
// syncBuffer is a bytes.Buffer safe for the os/exec copy goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func create(t *testing.T, r *runtime.Runtime, id, bundle string, opts ...runtime.CreateOption) (*runtime.Container, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out syncBuffer
	c, err := r.Create(ctx, id, bundle, append([]runtime.CreateOption{runtime.WithStdio(nil, &out, &out)}, opts...)...)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := r.Delete(ctx, id, true); err != nil && !errors.Is(err, runtime.ErrNotExist) {
			t.Errorf("cleanup delete: %v", err)
		}
	})
	return c, &out
}

// wait waits for c with a timeout, killing it when the time is up.
func wait(t *testing.T, r *runtime.Runtime, c *runtime.Container, d time.Duration) int {
	t.Helper()
	type res struct {
		code int
		err  error
	}
	ch := make(chan res, 1)
	go func() { code, err := c.Wait(); ch <- res{code, err} }()
	select {
	case x := <-ch:
		if x.err != nil {
			t.Fatalf("wait: %v", x.err)
		}
		return x.code
	case <-time.After(d):
		r.Kill(c.ID, unix.SIGKILL)
		<-ch
		t.Fatalf("container %s did not exit within %v", c.ID, d)
		return -1
	}
}

// run creates, starts and waits for a container; it returns exit code
// and combined output.
func run(t *testing.T, args []string, edit func(*specs.Spec), opts ...runtime.CreateOption) (int, string) {
	t.Helper()
	r := newRuntime(t)
	id := newID(t)
	c, out := create(t, r, id, newBundle(t, args, edit), opts...)
	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	code := wait(t, r, c, 20*time.Second)
	return code, out.String()
}

func TestRun(t *testing.T) {
	requireRoot(t)
	pidsLimit := int64(10)
	memLimit := int64(16 << 20)
	for _, tc := range []struct {
		name     string
		args     []string
		edit     func(*specs.Spec)
		opts     []runtime.CreateOption
		wantCode int
		check    func(t *testing.T, out string)
	}{
		{name: "true", args: []string{"/bin/true"}},
		{name: "exit code", args: []string{"sh", "-c", "exit 3"}, wantCode: 3},
		{name: "pid 1", args: []string{"sh", "-c", "echo $$"}, check: wantOut("1")},
		{name: "hostname", args: []string{"hostname"}, edit: func(s *specs.Spec) { s.Hostname = "box1" }, check: wantOut("box1")},
		{name: "only stdio fds", args: []string{"ls", "/proc/self/fd"}, check: wantOut("0\n1\n2\n3")}, // 3 is ls's own directory fd
		{name: "user", args: []string{"id"}, edit: func(s *specs.Spec) {
			s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10}}
		}, check: wantOut("uid=1000 gid=1000 groups=10")},
		{name: "capabilities", args: []string{"grep", "^Cap", "/proc/self/status"}, check: func(t *testing.T, out string) {
			// CAP_KILL(5), CAP_NET_BIND_SERVICE(10), CAP_AUDIT_WRITE(29).
			for _, want := range []string{"CapPrm:\t0000000020000420", "CapEff:\t0000000020000420", "CapBnd:\t0000000020000420", "CapInh:\t0000000000000000"} {
				if !strings.Contains(out, want) {
					t.Errorf("want %q in\n%s", want, out)
				}
			}
		}},
		{name: "no new privs", args: []string{"grep", "NoNewPrivs", "/proc/self/status"}, check: wantOut("NoNewPrivs:\t1")},
		{name: "readonly root", args: []string{"sh", "-c", "echo x > /x"}, wantCode: 1},
		// /proc/sys is a read-only path of the default spec: sysctls are
		// written before it turns read-only (podman --sysctl).
		{name: "sysctl under a read-only /proc/sys", args: []string{"cat", "/proc/sys/net/ipv4/ip_forward"}, edit: func(s *specs.Spec) {
			s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		}, check: wantOut("1")},
		{name: "cwd and env", args: []string{"sh", "-c", "pwd; echo $FOO"}, edit: func(s *specs.Spec) {
			s.Process.Cwd = "/tmp"
			s.Process.Env = append(s.Process.Env, "FOO=bar")
		}, check: wantOut("/tmp\nbar")},
		{name: "masked path", args: []string{"sh", "-c", "cat /proc/timer_list | wc -c"}, check: wantOut("0")},
		{name: "no pivot", args: []string{"cat", "/proc/self/mountinfo"}, opts: []runtime.CreateOption{runtime.WithNoPivot()}, check: noHostPaths},
		{name: "mount table", args: []string{"cat", "/proc/self/mountinfo"}, check: noHostPaths},
		{name: "pids limit", args: []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do sleep 5 & done; echo unexpected"}, wantCode: 2,
			edit: func(s *specs.Spec) { s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pidsLimit} },
			check: func(t *testing.T, out string) {
				if !strings.Contains(out, "can't fork") {
					t.Errorf("fork did not fail at the pids limit:\n%s", out)
				}
			}},
		{name: "memory limit", args: []string{"sh", "-c", "head -c 100000000 /dev/zero | tail -n 1 >/dev/null"},
			edit: func(s *specs.Spec) {
				s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &memLimit, Swap: &memLimit}
			}, wantCode: 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "memory limit" && raceEnabled {
				t.Skip("the race detector's init does not fit in 16 MiB")
			}
			code, out := run(t, tc.args, tc.edit, tc.opts...)
			if code != tc.wantCode {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func wantOut(want string) func(*testing.T, string) {
	return func(t *testing.T, out string) {
		t.Helper()
		if strings.TrimSpace(out) != want {
			t.Errorf("output %q, want %q", out, want)
		}
	}
}

// noHostPaths checks that no mount inside the container has the test's
// temporary directory (where the bundle lives) as its mount point.
func noHostPaths(t *testing.T, out string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			t.Fatalf("bad mountinfo line %q", line)
		}
		mp := f[4]
		if strings.HasPrefix(mp, os.TempDir()) || strings.HasPrefix(mp, "/work") || strings.HasPrefix(mp, "/root") {
			t.Errorf("host path %s mounted in the container", mp)
		}
	}
	if !strings.Contains(out, " / ro,") && !strings.Contains(out, " / rw,") {
		t.Errorf("no root mount in:\n%s", out)
	}
}
