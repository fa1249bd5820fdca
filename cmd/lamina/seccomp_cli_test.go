package main

import (
	"context"
	"strings"
	"testing"
	"time"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestCLIRunDockerSeccompProfile runs a bundle whose linux.seccomp is
// docker's default profile through "lamina run".
func TestCLIRunDockerSeccompProfile(t *testing.T) {
	requireRootBusybox(t)
	root := t.TempDir()
	b := cliBundle(t, root, []string{"sh", "-c", "cat /proc/self/status"})
	editBundle(t, b, func(s *specs.Spec) {
		p, err := mobyseccomp.GetDefaultProfile(s)
		if err != nil {
			t.Fatal(err)
		}
		s.Linux.Seccomp = p
	})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := lamina(ctx, root, "run", "--bundle", b, "seccomp1").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "Seccomp:\t2") {
		t.Errorf("no seccomp filter in the container:\n%s", out)
	}
}
