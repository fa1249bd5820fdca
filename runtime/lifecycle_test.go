package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func wantStatus(t *testing.T, r *runtime.Runtime, id string, want specs.ContainerState) *runtime.State {
	t.Helper()
	s, err := r.State(id)
	if err != nil {
		t.Fatalf("state: %v", err)
	}
	if s.Status != want {
		t.Fatalf("status %s, want %s", s.Status, want)
	}
	return s
}

// eventually polls cond for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestLifecycle(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	bundle := newBundle(t, []string{"sh", "-c", "echo started; sleep 0.3"}, nil)
	c, out := create(t, r, id, bundle)

	s := wantStatus(t, r, id, specs.StateCreated)
	if s.Pid != c.Pid || s.Bundle != bundle || s.ID != id || s.Rootfs != filepath.Join(bundle, "rootfs") || s.Owner != "root" {
		t.Errorf("state %+v", s)
	}
	time.Sleep(100 * time.Millisecond)
	if out.String() != "" {
		t.Fatalf("created container ran before start: %q", out)
	}
	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	wantStatus(t, r, id, specs.StateRunning)
	if err := r.Start(id); !errors.Is(err, runtime.ErrNotCreated) {
		t.Errorf("second start: %v, want ErrNotCreated", err)
	}
	if err := r.Delete(context.Background(), id, false); !errors.Is(err, runtime.ErrRunning) {
		t.Errorf("delete of a running container: %v, want ErrRunning", err)
	}
	if code := wait(t, r, c, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	wantStatus(t, r, id, specs.StateStopped)
	if err := r.Kill(id, unix.SIGTERM); !errors.Is(err, runtime.ErrNotRunning) {
		t.Errorf("kill of a stopped container: %v, want ErrNotRunning", err)
	}
	if !strings.Contains(out.String(), "started") {
		t.Errorf("output %q", out)
	}
	list, err := r.List()
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("list: %v %v", list, err)
	}
	cgDirs := cgroupDirs(t, bundle)
	if err := r.Delete(context.Background(), id, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	assertGone(t, r, id, cgDirs)
}

// cgroupDirs returns the container's cgroup directories (the tests use
// the absolute cgroupsPath /lamina-test/BUNDLE-BASENAME).
func cgroupDirs(t *testing.T, bundle string) []string {
	t.Helper()
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/lamina-test/" + filepath.Base(bundle))
	if d := "/sys/fs/cgroup/lamina-test/" + filepath.Base(bundle); exists(d) {
		dirs = append(dirs, d)
	}
	return dirs
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// assertGone checks that container id left nothing behind.
func assertGone(t *testing.T, r *runtime.Runtime, id string, cgDirs []string) {
	t.Helper()
	if _, err := r.State(id); !errors.Is(err, runtime.ErrNotExist) {
		t.Errorf("state after delete: %v, want ErrNotExist", err)
	}
	if exists(filepath.Join(r.Root(), id)) {
		t.Errorf("state dir %s left behind", filepath.Join(r.Root(), id))
	}
	for _, d := range cgDirs {
		if exists(d) {
			t.Errorf("cgroup %s left behind", d)
		}
	}
}

func TestKill(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	bundle := newBundle(t, []string{"sleep", "60"}, nil)
	c, _ := create(t, r, id, bundle)
	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	cgDirs := cgroupDirs(t, bundle)
	if len(cgDirs) == 0 {
		t.Fatalf("no cgroup directory for the container")
	}
	if err := r.Kill(id, unix.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if code := wait(t, r, c, 10*time.Second); code != 128+9 {
		t.Errorf("exit code %d, want 137", code)
	}
	wantStatus(t, r, id, specs.StateStopped)
	if err := r.Delete(context.Background(), id, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	assertGone(t, r, id, cgDirs)
}

// TestDeleteForce deletes a running container whose init was reparented
// (nobody waits for it), as after "lamina create" in another process.
func TestDeleteForce(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	bundle := newBundle(t, []string{"sleep", "60"}, nil)
	c, _ := create(t, r, id, bundle)
	go c.Wait() // reap, as a subreaper would
	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	wantStatus(t, r, id, specs.StateRunning)
	cgDirs := cgroupDirs(t, bundle)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.Delete(ctx, id, true); err != nil {
		t.Fatalf("delete --force: %v", err)
	}
	assertGone(t, r, id, cgDirs)
}

// TestDeleteCreated deletes a container that was never started.
func TestDeleteCreated(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	bundle := newBundle(t, []string{"true"}, nil)
	c, _ := create(t, r, id, bundle)
	go c.Wait()
	cgDirs := cgroupDirs(t, bundle)
	if err := r.Delete(context.Background(), id, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	assertGone(t, r, id, cgDirs)
}

func TestCreateErrors(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name      string
		edit      func(s *specs.Spec, bundle string)
		wantField string
		wantText  string
	}{
		{name: "missing rootfs", edit: func(s *specs.Spec, b string) { s.Root.Path = "nope" }, wantField: "root.path"},
		{name: "unknown namespace", edit: func(s *specs.Spec, b string) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, wantField: "linux.namespaces[6].type", wantText: "bogus"},
		{name: "seccomp bad action", edit: func(s *specs.Spec, b string) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: "SCMP_ACT_BOGUS"}}}
		}, wantField: "linux.seccomp.syscalls[0].action", wantText: "SCMP_ACT_BOGUS"},
		{name: "seccomp bad op", edit: func(s *specs.Spec, b string) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno,
					Args: []specs.LinuxSeccompArg{{Index: 1, Value: 1, Op: "SCMP_CMP_BOGUS"}}}}}
		}, wantField: "linux.seccomp.syscalls[0].args[0].op", wantText: "SCMP_CMP_BOGUS"},
		{name: "seccomp notify", edit: func(s *specs.Spec, b string) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow,
				Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActNotify}}}
		}, wantField: "linux.seccomp.syscalls[0].action", wantText: "not supported yet"},
		{name: "seccomp unknown flag", edit: func(s *specs.Spec, b string) {
			s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_BOGUS"}}
		}, wantField: "linux.seccomp.flags[0]", wantText: "SECCOMP_FILTER_FLAG_BOGUS"},
		{name: "relative hook path", edit: func(s *specs.Spec, b string) {
			s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "bin/true"}}}
		}, wantField: "hooks.poststop[0].path"},
		{name: "zero hook timeout", edit: func(s *specs.Spec, b string) {
			zero := 0
			s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true", Timeout: &zero}}}
		}, wantField: "hooks.createRuntime[0].timeout"},
		{name: "unknown capability", edit: func(s *specs.Spec, b string) {
			s.Process.Capabilities.Effective = []string{"CAP_BOGUS"}
		}, wantField: "process.capabilities.effective[0]"},
		{name: "rlimit soft above hard", edit: func(s *specs.Spec, b string) {
			s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 2048}}
		}, wantField: "process.rlimits[0].soft"},
		{name: "no args", edit: func(s *specs.Spec, b string) { s.Process.Args = nil }, wantField: "process.args"},
		{name: "missing program", edit: func(s *specs.Spec, b string) { s.Process.Args = []string{"/bin/nope"} }, wantField: "process.args[0]"},
		{name: "invalid json", edit: func(s *specs.Spec, b string) {
			os.WriteFile(filepath.Join(b, "config.json"), []byte("{"), 0o644)
		}, wantField: "config.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t)
			id := newID(t)
			bundle := newBundle(t, []string{"true"}, nil)
			s, err := runtime.LoadBundle(bundle)
			if err != nil {
				t.Fatal(err)
			}
			writeSpec(t, bundle, s)
			tc.edit(s, bundle)
			if tc.name != "invalid json" {
				writeSpec(t, bundle, s)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := r.Create(ctx, id, bundle, runtime.WithStdio(nil, nil, nil))
			if err == nil {
				go c.Wait()
				r.Delete(ctx, id, true)
				t.Fatalf("create succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantField) || !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not name %q / %q", err, tc.wantField, tc.wantText)
			}
			assertGone(t, r, id, cgroupDirs(t, bundle))
			if ents, _ := os.ReadDir(r.Root()); len(ents) != 0 {
				t.Errorf("root not empty: %v", ents)
			}
		})
	}
}

func TestCreateDuplicateID(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	c, _ := create(t, r, id, newBundle(t, []string{"true"}, nil))
	go c.Wait()
	_, err := r.Create(context.Background(), id, newBundle(t, []string{"true"}, nil))
	if !errors.Is(err, runtime.ErrExist) {
		t.Fatalf("second create: %v, want ErrExist", err)
	}
	wantStatus(t, r, id, specs.StateCreated)
}

func TestInvalidID(t *testing.T) {
	r := newRuntime(t)
	for _, id := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("a", 2000)} {
		if _, err := r.State(id); !errors.Is(err, runtime.ErrInvalidID) {
			t.Errorf("State(%q): %v, want ErrInvalidID", id, err)
		}
	}
}

// TestConcurrentCreate races creates of one ID, and states and deletes of
// it: exactly one create wins, and nobody sees a half-written state.
func TestConcurrentCreate(t *testing.T) {
	requireRoot(t)
	r := newRuntime(t)
	id := newID(t)
	bundle := newBundle(t, []string{"true"}, nil)
	const n = 4
	errs := make(chan error, n)
	ctrs := make(chan *runtime.Container, n)
	for i := 0; i < n; i++ {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			c, err := r.Create(ctx, id, bundle, runtime.WithStdio(nil, nil, nil))
			if c != nil {
				ctrs <- c
			}
			errs <- err
		}()
		go func() {
			if _, err := r.State(id); err != nil && !errors.Is(err, runtime.ErrNotExist) {
				t.Errorf("concurrent state: %v", err)
			}
		}()
	}
	ok := 0
	for i := 0; i < n; i++ {
		err := <-errs
		if err == nil {
			ok++
		} else if !errors.Is(err, runtime.ErrExist) {
			t.Errorf("create: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d creates succeeded, want 1", ok)
	}
	c := <-ctrs
	go c.Wait()
	wantStatus(t, r, id, specs.StateCreated)
	if err := r.Delete(context.Background(), id, true); err != nil {
		t.Fatalf("delete: %v", err)
	}
	assertGone(t, r, id, cgroupDirs(t, bundle))
}
