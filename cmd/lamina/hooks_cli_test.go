package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCLIHookWarnings checks that failing poststart and poststop hooks do
// not fail "lamina run" and are logged as warnings.
func TestCLIHookWarnings(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sh", "-c", "echo out"})
	var s specs.Spec
	raw, _ := os.ReadFile(filepath.Join(b, "config.json"))
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	fail := []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo boom >&2; exit 3"}}}
	s.Hooks = &specs.Hooks{Poststart: fail, Poststop: fail}
	raw, _ = json.Marshal(&s)
	os.WriteFile(filepath.Join(b, "config.json"), raw, 0o644)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lamina(ctx, root, "run", "--log-format", "json", "--bundle", b, "hooks1").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v: %s", err, out)
	}
	for _, kind := range []string{"poststart", "poststop"} {
		want := `"level":"warn","msg":"hooks.` + kind + `[0] /bin/sh: exit status 3: boom"`
		if !strings.Contains(string(out), want) {
			t.Errorf("no warning %s in output:\n%s", want, out)
		}
	}
}
