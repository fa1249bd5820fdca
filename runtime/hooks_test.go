package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// hostHookScript writes a host shell script that records, for the hook
// kind given as $1, its stdin (KIND.json), its args and $FOO (KIND.args)
// and its mount namespace (KIND.mntns) in dir, and appends KIND to
// dir/order.
func hostHookScript(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "hook.sh")
	script := `#!/bin/sh
cat > "$DIR/$1.json"
echo "$* FOO=$FOO" > "$DIR/$1.args"
readlink /proc/self/ns/mnt > "$DIR/$1.mntns"
echo "$1" >> "$DIR/order"
`
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func hookState(t *testing.T, file string) specs.State {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("hook did not run: %v", err)
	}
	var st specs.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("hook stdin %q: %v", b, err)
	}
	return st
}

func wantOrder(t *testing.T, dir string, want ...string) {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, "order"))
	if got := strings.Fields(string(b)); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("hooks ran %v, want %v", got, want)
	}
}

// TestHooks runs a container with every kind of hook and checks at each
// lifecycle step which hooks ran, with which state on stdin, args, env
// and namespace.
func TestHooks(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	script := hostHookScript(t, dir)
	env := []string{"DIR=" + dir, "FOO=bar", "PATH=/usr/bin:/bin"}
	host := func(kind string) []specs.Hook {
		return []specs.Hook{{Path: script, Args: []string{"hook.sh", kind, "extra"}, Env: env}}
	}
	var warnings []error
	var mu sync.Mutex
	r, err := runtime.New(t.TempDir(), runtime.WithWarnFunc(func(err error) {
		mu.Lock()
		defer mu.Unlock()
		warnings = append(warnings, err)
	}))
	if err != nil {
		t.Fatal(err)
	}
	id := newID(t)
	// The process prints what startContainer (which runs inside the
	// container, after the root switch) left in /tmp: it ran before.
	bundle := newBundle(t, []string{"sh", "-c", "cat /tmp/startContainer.json; sleep 0.2"}, func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Annotations = map[string]string{"a": "b"}
		s.Hooks = &specs.Hooks{
			Prestart:        host("prestart"),
			CreateRuntime:   host("createRuntime"),
			CreateContainer: host("createContainer"),
			StartContainer:  []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > /tmp/startContainer.json"}}},
			Poststart:       host("poststart"),
			Poststop:        host("poststop"),
		}
	})
	c, out := create(t, r, id, bundle)

	wantOrder(t, dir, "prestart", "createRuntime", "createContainer")
	hostNS, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		st := hookState(t, filepath.Join(dir, kind+".json"))
		if st.Status != specs.StateCreating || st.ID != id || st.Pid != c.Pid || st.Bundle != bundle ||
			st.Annotations["a"] != "b" || st.Version == "" {
			t.Errorf("%s got state %+v", kind, st)
		}
		args, _ := os.ReadFile(filepath.Join(dir, kind+".args"))
		if got := strings.TrimSpace(string(args)); got != kind+" extra FOO=bar" {
			t.Errorf("%s got args and env %q", kind, got)
		}
		ns, _ := os.ReadFile(filepath.Join(dir, kind+".mntns"))
		inHost := strings.TrimSpace(string(ns)) == hostNS
		if inHost != (kind != "createContainer") {
			t.Errorf("%s ran in mount namespace %s, the runtime's is %s", kind, ns, hostNS)
		}
	}

	if err := r.Start(id); err != nil {
		t.Fatalf("start: %v", err)
	}
	// poststart ran before Start returned, with the process running.
	wantOrder(t, dir, "prestart", "createRuntime", "createContainer", "poststart")
	if st := hookState(t, filepath.Join(dir, "poststart.json")); st.Status != specs.StateRunning || st.Pid != c.Pid {
		t.Errorf("poststart got state %+v", st)
	}
	if code := wait(t, r, c, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d: %s", code, out)
	}
	var st specs.State
	if err := json.Unmarshal([]byte(out.String()), &st); err != nil || st.Status != specs.StateCreated || st.ID != id {
		t.Errorf("startContainer got state %q (%v), want status created", out, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := r.Delete(ctx, id, false); err != nil {
		t.Fatalf("delete: %v", err)
	}
	wantOrder(t, dir, "prestart", "createRuntime", "createContainer", "poststart", "poststop")
	if st := hookState(t, filepath.Join(dir, "poststop.json")); st.Status != specs.StateStopped || st.ID != id {
		t.Errorf("poststop got state %+v", st)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
}

// TestHookFailures checks that a failing or hanging hook up to
// poststart fails the operation, stops the container, leaves nothing
// behind and still runs the poststop hooks (runtime-spec lifecycle, as
// runc), and that a failing poststop hook is only a warning.
func TestHookFailures(t *testing.T) {
	requireRoot(t)
	one := 1
	fail := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo boom >&2; exit 3"}}
	for _, tc := range []struct {
		name  string
		hooks func(dir string) *specs.Hooks
		// wantCreate, wantStart: the text the error of Create, Start must
		// hold ("" means success); wantWarn: of the one warning.
		wantCreate, wantStart, wantWarn string
		// processRuns: the process must have run; mayRun: it may have
		// (poststart kills it at an unknown point).
		processRuns, mayRun bool
		check               func(t *testing.T, dir string, err error)
	}{
		{name: "createRuntime fails", hooks: func(string) *specs.Hooks { return &specs.Hooks{CreateRuntime: []specs.Hook{fail}} },
			wantCreate: "hooks.createRuntime[0] /bin/sh: exit status 3: boom"},
		{name: "prestart fails", hooks: func(string) *specs.Hooks { return &specs.Hooks{Prestart: []specs.Hook{fail}} },
			wantCreate: "hooks.prestart[0] /bin/sh: exit status 3: boom"},
		{name: "createContainer fails", hooks: func(string) *specs.Hooks {
			return &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/true"}}, CreateContainer: []specs.Hook{{Path: "/bin/true"}, fail}}
		}, wantCreate: "hooks.createContainer[1] /bin/sh: exit status 3: boom"},
		{name: "createRuntime timeout", hooks: func(dir string) *specs.Hooks {
			return &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Timeout: &one,
				Args: []string{"sh", "-c", "echo $$ > " + dir + "/pid; exec sleep 60"}}}}
		}, wantCreate: "hooks.createRuntime[0] /bin/sh: timed out after 1s", check: func(t *testing.T, dir string, err error) {
			if !errors.Is(err, runtime.ErrHookTimeout) {
				t.Errorf("error %v does not wrap ErrHookTimeout", err)
			}
			b, rerr := os.ReadFile(filepath.Join(dir, "pid"))
			if rerr != nil {
				t.Fatalf("hook did not start: %v", rerr)
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			if pid <= 0 || exists("/proc/"+strconv.Itoa(pid)) {
				t.Errorf("hook process %d still exists after its timeout", pid)
			}
		}},
		{name: "startContainer fails", hooks: func(string) *specs.Hooks { return &specs.Hooks{StartContainer: []specs.Hook{fail}} },
			wantStart: "hooks.startContainer[0] /bin/sh: exit status 3: boom"},
		{name: "poststart fails", hooks: func(string) *specs.Hooks { return &specs.Hooks{Poststart: []specs.Hook{fail}} },
			wantStart: "hooks.poststart[0] /bin/sh: exit status 3: boom", mayRun: true},
		{name: "poststop fails", hooks: func(string) *specs.Hooks { return &specs.Hooks{Poststop: []specs.Hook{fail}} },
			wantWarn: "hooks.poststop[0] /bin/sh: exit status 3: boom", processRuns: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var warnings []string
			var mu sync.Mutex
			r, err := runtime.New(t.TempDir(), runtime.WithWarnFunc(func(err error) {
				mu.Lock()
				defer mu.Unlock()
				warnings = append(warnings, err.Error())
			}))
			if err != nil {
				t.Fatal(err)
			}
			id := newID(t)
			hooks := tc.hooks(dir)
			// A poststop hook that leaves a mark, after the one under test.
			hooks.Poststop = append(hooks.Poststop, specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > " + dir + "/poststop.json"}})
			// The process runs long enough for poststart to find it running.
			bundle := newBundle(t, []string{"sh", "-c", "echo ran; sleep 0.5"}, func(s *specs.Spec) { s.Hooks = hooks })
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out syncBuffer
			c, err := r.Create(ctx, id, bundle, runtime.WithStdio(nil, &out, &out))
			if c != nil {
				t.Cleanup(func() { r.Delete(context.Background(), id, true) })
			}
			cgDirs := cgroupDirs(t, bundle)
			var he *runtime.HookError
			switch {
			case tc.wantCreate != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantCreate) || !errors.As(err, &he) {
					t.Fatalf("create error %v, want a HookError with %q", err, tc.wantCreate)
				}
				if tc.check != nil {
					tc.check(t, dir, err)
				}
			case err != nil:
				t.Fatalf("create: %v", err)
			case tc.wantStart != "":
				err = r.Start(id)
				if err == nil || !strings.Contains(err.Error(), tc.wantStart) || !errors.As(err, &he) {
					t.Fatalf("start error %v, want a HookError with %q", err, tc.wantStart)
				}
				c.Wait()
			default:
				if err := r.Start(id); err != nil {
					t.Fatalf("start: %v", err)
				}
				if code := wait(t, r, c, 10*time.Second); code != 0 {
					t.Errorf("exit code %d, output %q", code, out.String())
				}
				if err := r.Delete(ctx, id, false); err != nil {
					t.Fatalf("delete: %v", err)
				}
			}
			if ran := strings.Contains(out.String(), "ran"); ran != tc.processRuns && !tc.mayRun {
				t.Errorf("process ran: %v, want %v (output %q)", ran, tc.processRuns, out.String())
			}
			assertGone(t, r, id, cgDirs)
			if len(cgroupDirs(t, bundle)) != 0 {
				t.Errorf("cgroups left behind: %v", cgroupDirs(t, bundle))
			}
			if ents, _ := os.ReadDir(r.Root()); len(ents) != 0 {
				t.Errorf("root not empty: %v", ents)
			}
			if st := hookState(t, filepath.Join(dir, "poststop.json")); st.Status != specs.StateStopped || st.ID != id {
				t.Errorf("poststop got state %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.wantWarn == "" && len(warnings) != 0 || tc.wantWarn != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tc.wantWarn)) {
				t.Errorf("warnings %q, want %q", warnings, tc.wantWarn)
			}
		})
	}
}

// TestHookFDs: a hook that init runs (createContainer here; startContainer
// runs from the same process later) inherits stdio only, not init's sync
// socket, exec.fifo or console socket: a helper it leaves behind cannot
// hold them open or forge replies.
func TestHookFDs(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	hook := func(kind string) []specs.Hook {
		return []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "ls /proc/self/fd > " + filepath.Join(dir, kind)}}}
	}
	code, out := run(t, []string{"true"}, func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateContainer: hook("createContainer")}
	})
	if code != 0 {
		t.Fatalf("exit code %d: %s", code, out)
	}
	for _, kind := range []string{"createContainer"} {
		b, err := os.ReadFile(filepath.Join(dir, kind))
		if err != nil {
			t.Fatalf("%s hook did not run: %v", kind, err)
		}
		// 0-2, and the directory ls reads.
		if fds := strings.Fields(string(b)); len(fds) > 4 {
			t.Errorf("%s hook inherited fds %v, want stdio only", kind, fds)
		}
	}
}
