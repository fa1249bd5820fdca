package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCLIHooks checks what "lamina run" makes of failing hooks: a
// poststop failure is logged as a warning and the run succeeds; a
// poststart failure fails the run, with the hook named in the error, and
// the container is gone.
func TestCLIHooks(t *testing.T) {
	requireRootBusybox(t)
	fail := []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo boom >&2; exit 3"}}}
	for _, tc := range []struct {
		name    string
		hooks   *specs.Hooks
		wantErr bool
		want    string
	}{
		{name: "poststop warns", hooks: &specs.Hooks{Poststop: fail},
			want: `"level":"warn","msg":"hooks.poststop[0] /bin/sh: exit status 3: boom"`},
		{name: "poststart fails", hooks: &specs.Hooks{Poststart: fail}, wantErr: true,
			want: `"level":"error","msg":"start hooks-poststart_fails: hooks.poststart[0] /bin/sh: exit status 3: boom"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			b := cliBundle(t, root, []string{"sh", "-c", "echo out; sleep 0.5"})
			editBundle(t, b, func(s *specs.Spec) { s.Hooks = tc.hooks })

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			id := "hooks-" + strings.ReplaceAll(tc.name, " ", "_")
			out, err := lamina(ctx, root, "run", "--log-format", "json", "--bundle", b, id).CombinedOutput()
			if (err != nil) != tc.wantErr {
				t.Fatalf("run: %v, want an error: %v; output:\n%s", err, tc.wantErr, out)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("no %s in output:\n%s", tc.want, out)
			}
			if ents, _ := os.ReadDir(root); len(ents) != 0 {
				t.Errorf("state left behind: %v", ents)
			}
		})
	}
}
