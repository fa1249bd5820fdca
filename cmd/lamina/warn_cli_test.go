package main

import (
	"context"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCLIWarnKernelMemory checks that a kernel memory limit, accepted and
// not applied (the runtime-tools cgroups programs set one), is warned
// about rather than dropped silently.
func TestCLIWarnKernelMemory(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sh", "-c", "exit 0"})
	kmem := int64(50 << 20)
	editBundle(t, b, func(s *specs.Spec) { s.Linux.Resources.Memory = &specs.LinuxMemory{Kernel: &kmem} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lamina(ctx, root, "run", "--bundle", b, "kmem").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "memory.kernel and kernelTCP are not applied") {
		t.Errorf("no warning in:\n%s", out)
	}
}
