package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Module is the runtime-tools module, RuntimeToolsVersion the pinned
// version (the newest commit served by the module proxy whose suite
// builds with this repository's Go; tagged v0.9.0 is from 2019).
const (
	Module              = "github.com/opencontainers/runtime-tools"
	RuntimeToolsVersion = "v0.9.1-0.20241108202711-f7e3563b0271"
)

// Suite is a built validation suite: Dir holds runtimetest,
// rootfs-amd64.tar.gz and one executable per program in Tests.
type Suite struct {
	Dir     string
	Version string
	Tests   []string
}

// Build fetches runtime-tools at version through the Go module proxy and
// builds the suite under dir (which must exist and be empty). goBin is the
// go command.
func Build(ctx context.Context, goBin, version, dir string) (*Suite, error) {
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := goCmd(ctx, goBin, dir, env, "mod", "download", "-json", Module+"@"+version)
	if err != nil {
		return nil, fmt.Errorf("download %s@%s: %w", Module, version, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return nil, fmt.Errorf("download %s@%s: read go mod download output: %w", Module, version, err)
	}
	if mod.Error != "" || mod.Dir == "" {
		return nil, fmt.Errorf("download %s@%s: %s", Module, version, mod.Error)
	}
	src := filepath.Join(dir, "src")
	if err := os.CopyFS(src, os.DirFS(mod.Dir)); err != nil {
		return nil, fmt.Errorf("copy %s: %w", mod.Dir, err)
	}
	// The module zip keeps vendor/modules.txt but not the vendored code:
	// build from the module cache instead.
	if err := os.RemoveAll(filepath.Join(src, "vendor")); err != nil {
		return nil, fmt.Errorf("remove vendor: %w", err)
	}
	run := filepath.Join(dir, "run")
	if err := os.Mkdir(run, 0o755); err != nil {
		return nil, fmt.Errorf("make run directory: %w", err)
	}
	// runtimetest runs inside the busybox rootfs: static.
	static := append(env[:len(env):len(env)], "CGO_ENABLED=0")
	if _, err := goCmd(ctx, goBin, src, static, "build", "-tags", "netgo osusergo", "-o", filepath.Join(run, "runtimetest"), "./cmd/runtimetest"); err != nil {
		return nil, fmt.Errorf("build runtimetest: %w", err)
	}
	// One build for all programs: with -o DIR, go build writes each main
	// package as DIR/NAME.
	if _, err := goCmd(ctx, goBin, src, env, "build", "-o", run+"/", "./validation/..."); err != nil {
		return nil, fmt.Errorf("build validation programs: %w", err)
	}
	rootfs, err := os.ReadFile(filepath.Join(src, "rootfs-amd64.tar.gz"))
	if err != nil {
		return nil, fmt.Errorf("read the suite's rootfs: %w", err)
	}
	if err := os.WriteFile(filepath.Join(run, "rootfs-amd64.tar.gz"), rootfs, 0o644); err != nil {
		return nil, fmt.Errorf("write rootfs: %w", err)
	}
	ents, err := os.ReadDir(filepath.Join(src, "validation"))
	if err != nil {
		return nil, fmt.Errorf("list validation programs: %w", err)
	}
	s := &Suite{Dir: run, Version: version}
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(run, e.Name())); e.IsDir() && err == nil {
			s.Tests = append(s.Tests, e.Name())
		}
	}
	sort.Strings(s.Tests)
	if len(s.Tests) == 0 {
		return nil, fmt.Errorf("build validation programs: none found in %s", run)
	}
	return s, nil
}

func goCmd(ctx context.Context, goBin, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir, cmd.Env = dir, env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}
