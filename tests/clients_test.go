package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Real clients (git, sqlite through python3, rsync, tar, cp, dpkg-style
// updates) run the same steps on kernel overlayfs and on the subject, over
// the same lower directories. A client test compares what the steps
// printed, then the trees through both mounts, then reads the subject's
// upper back through the kernel. Results are compared, never timings.

// clientSteps runs one client's steps on the union mounted at mnt and
// returns a transcript that must be the same on every correct union.
type clientSteps func(t *testing.T, mnt string) string

// requireTool skips t unless every named program is on PATH.
func requireTool(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("needs %s: not on PATH (scripts/setup.sh installs it)", n)
		}
	}
}

// runClient mounts the oracle and the subject over lowers (top first; they
// are only read, so both mounts share them) with fresh upper directories,
// runs steps on each, and compares the transcripts and the trees, leaving
// out the paths skip names (files whose bytes legitimately differ, such as
// git's index, which records inode numbers). Finally it unmounts both and
// checks that the kernel reads the subject's upper as the subject showed it.
// lamina's FUSE daemon runs with passthrough off and on, as subtests.
func runClient(t *testing.T, lowers []string, steps clientSteps, skip func(rel string) bool) {
	t.Helper()
	for _, opt := range subjectModes() {
		t.Run(opt, func(t *testing.T) { runClientMode(t, lowers, steps, skip, opt) })
	}
}

func runClientMode(t *testing.T, lowers []string, steps clientSteps, skip func(rel string) bool, opt string) {
	t.Helper()
	watchdog(t, 90*time.Second)
	root := t.TempDir()
	k := filepath.Join(root, "k")
	s := filepath.Join(root, "s")
	mustMkdirAll(t, k+"/upper", k+"/work", k+"/mnt", s+"/upper", s+"/work", s+"/mnt")
	mountKernel(t, lowers, k+"/upper", k+"/work", k+"/mnt")
	var extra []string
	if opt != "" {
		extra = append(extra, opt)
	}
	mountSubject(t, lowers, s+"/upper", s+"/work", s+"/mnt", extra...)

	kOut := steps(t, k+"/mnt")
	sOut := steps(t, s+"/mnt")
	if kOut != sOut {
		t.Errorf("the client's transcript differs:\n--- kernel:\n%s\n--- subject:\n%s", kOut, sOut)
	} else {
		t.Logf("transcript (same on both):\n%s", kOut)
	}
	sSnap := filterSnapshot(takeSnapshot(s+"/mnt"), skip)
	if d := diffSnapshots("kernel", filterSnapshot(takeSnapshot(k+"/mnt"), skip), "subject", sSnap); len(d) > 0 {
		t.Errorf("tree through the mounts differs (%d paths):\n%s", len(d), strings.Join(d, "\n"))
	}
	unmountKernel(t, k+"/mnt")
	unmountSubject(t, s+"/mnt")

	check := filepath.Join(root, "upper-check")
	mustMkdirAll(t, check)
	mountKernel(t, append([]string{s + "/upper"}, lowers...), "", "", check)
	got := filterSnapshot(takeSnapshot(check), skip)
	unmountKernel(t, check)
	if d := diffSnapshots("subject", sSnap, "kernel-over-upper", got); len(d) > 0 {
		t.Errorf("the kernel reads the subject's upper differently (%d paths):\n%s", len(d), strings.Join(d, "\n"))
	}
}

// filterSnapshot drops the paths skip names (nil keeps all).
func filterSnapshot(s snapshot, skip func(rel string) bool) snapshot {
	if skip == nil {
		return s
	}
	out := snapshot{}
	for k, v := range s {
		if !skip(k) {
			out[k] = v
		}
	}
	return out
}

// shellStep runs script with sh -c, with $1 set to mnt and env added to a
// minimal environment, and returns its exit status and output with mnt
// replaced by "$MNT", so that transcripts from two mounts compare.
func shellStep(t *testing.T, mnt string, env []string, script string) string {
	t.Helper()
	base := []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C", "TZ=UTC"}
	r := runCmdEnv(t, 60*time.Second, append(base, env...), "sh", "-c", script, "sh", mnt)
	out := fmt.Sprintf("exit=%d\n%s", r.code, r.stdout)
	if r.stderr != "" {
		out += "stderr:\n" + r.stderr
	}
	if r.err != nil && r.code < 0 {
		out += fmt.Sprintf("error: %v\n", r.err)
	}
	return strings.ReplaceAll(out, mnt, "$MNT")
}

// buildLowerWith runs script (sh -c, $1 = the new directory) to fill a
// fresh directory under root, and fails t if it does not exit 0.
func buildLowerWith(t *testing.T, root, name string, env []string, script string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	mustMkdirAll(t, dir)
	if out := shellStep(t, dir, env, script); !strings.HasPrefix(out, "exit=0\n") {
		t.Fatalf("build lower %s: %s", name, out)
	}
	return dir
}
