package tests

import (
	"cmp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// diffCase is one named differential case: a scripted sequence of operations
// run on kernel overlayfs and on the subject, on fresh copies of stack.
type diffCase struct {
	name  string
	stack []layer // nil means stdStack()
	ops   []op
	// subject, if set, runs extra checks on the subject's mount only, after
	// the ops and before the snapshots.
	subject func(t *testing.T, e caseEnv)
	// notWithPassthrough says why the case cannot hold when lamina passes
	// files through (a documented limit); it then runs without.
	notWithPassthrough string
	// redirectDir, if set, is the redirect_dir= both mounts get ("off"
	// otherwise, which the subject has by default).
	redirectDir string
}

// caseEnv is where a case's subject mount lives.
type caseEnv struct {
	mnt, upper, work string
	lowers           []string
}

// diffCases is the whole table, grouped by theme in the cases_*_test.go files.
func diffCases() []diffCase {
	var all []diffCase
	all = append(all, readCases()...)
	all = append(all, writeCases()...)
	all = append(all, namespaceCases()...)
	all = append(all, subjectOnlyCases()...)
	return all
}

// TestDifferential runs every case. lamina runs three ways, since they
// take different paths: its FUSE daemon without FUSE passthrough and
// served through /dev/fuse, with passthrough and served through io_uring
// queues where the kernel offers them, and its kernel driver (kernel
// overlayfs over shim-converted layers).
func TestDifferential(t *testing.T) {
	requireMountEnv(t)
	type mode struct{ name, driver, opt string }
	modes := []mode{{}}
	if !subjectIsFuseOverlayfs() && os.Getenv("LAMINA_UNIONMOUNT_DRIVER") == "" {
		modes = []mode{
			{name: "off", driver: "fuse", opt: "passthrough=off,uring=off"},
			{name: "on", driver: "fuse", opt: "passthrough=on"},
			{name: "kernel", driver: "overlay"},
		}
	}
	for _, m := range modes {
		for _, c := range diffCases() {
			name := c.name
			if m.name != "" {
				name = m.name + "/" + c.name
			}
			t.Run(name, func(t *testing.T) {
				if m.opt == "passthrough=on" && c.notWithPassthrough != "" {
					t.Skip(c.notWithPassthrough)
				}
				if m.driver != "" {
					t.Setenv("LAMINA_UNIONMOUNT_DRIVER", m.driver)
				}
				runDiffCase(t, c, m.opt)
			})
		}
	}
}

// runDiffCase mounts the oracle and the subject on fresh layers, runs the ops
// on both, compares results and snapshots, unmounts, and finally reads the
// subject's upper directory back through the kernel.
func runDiffCase(t *testing.T, c diffCase, subjectOpts ...string) {
	watchdog(t, 60*time.Second)
	stack := c.stack
	if stack == nil {
		stack = stdStack()
	}
	redirect := cmp.Or(c.redirectDir, "off")
	if c.redirectDir != "" {
		subjectOpts = append(subjectOpts, "redirect_dir="+c.redirectDir)
	}
	root, k, s, sLowers := mountPair(t, stack, redirect, subjectOpts...)

	for i, o := range c.ops {
		kr := o.fn(k + "/mnt")
		sr := o.fn(s + "/mnt")
		if kr != sr {
			t.Errorf("op %d: %s\n\tkernel:  %s\n\tsubject: %s", i, o.name, kr, sr)
		} else {
			t.Logf("op %d: %s: %s", i, o.name, kr)
		}
		if o.want != "" && sr != o.want {
			t.Errorf("op %d: %s: subject %s, want %s", i, o.name, sr, o.want)
		}
	}
	if c.subject != nil {
		c.subject(t, caseEnv{mnt: s + "/mnt", upper: s + "/upper", work: s + "/work", lowers: sLowers})
	}

	kSnap := takeSnapshot(k + "/mnt")
	sSnap := takeSnapshot(s + "/mnt")
	if d := diffSnapshots("kernel", kSnap, "subject", sSnap); len(d) > 0 {
		t.Errorf("tree through the mounts differs (%d paths):\n%s", len(d), strings.Join(d, "\n"))
	}
	unmountKernel(t, k+"/mnt")
	unmountSubject(t, s+"/mnt")
	if t.Failed() && testing.Verbose() {
		t.Logf("subject upper after unmount:\n%s", strings.Join(listRaw(s+"/upper"), "\n"))
	}
	checkUpperWithKernel(t, root, stack, s+"/upper", sSnap)
	if c.redirectDir != "" {
		checkKernelUpperWithSubject(t, root, stack, k+"/upper", kSnap)
	}
}

// checkKernelUpperWithSubject mounts the subject read-only over the
// oracle's upper directory (as the top lower layer) and the oracle's
// lowers, and compares that view with the oracle's own: the subject must
// follow the redirects the kernel wrote.
func checkKernelUpperWithSubject(t *testing.T, root string, stack []layer, upper string, want snapshot) {
	t.Helper()
	lowers := buildOracleStack(t, root, "ku-lower", stack)
	mnt := filepath.Join(root, "kernel-upper-check")
	mustMkdirAll(t, mnt)
	mountSubject(t, append([]string{upper}, lowers...), "", "", mnt)
	got := takeSnapshot(mnt)
	unmountSubject(t, mnt)
	if d := diffSnapshots("kernel", want, "subject-over-kernel-upper", got); len(d) > 0 {
		t.Errorf("the subject reads the kernel's upper differently (%d paths):\n%s", len(d), strings.Join(d, "\n"))
	}
}

// mountPair builds stack twice under a fresh temporary root, mounts the
// oracle (with redirect_dir=redirect) on ROOT/k/mnt and the subject (with
// subjectOpts; empty ones are dropped) on ROOT/s/mnt, and returns the root, the two base directories
// and the subject's lowers.
func mountPair(t *testing.T, stack []layer, redirect string, subjectOpts ...string) (root, k, s string, sLowers []string) {
	t.Helper()
	root = t.TempDir()
	k = filepath.Join(root, "k")
	s = filepath.Join(root, "s")
	mustMkdirAll(t, k+"/upper", k+"/work", k+"/mnt", s+"/upper", s+"/work", s+"/mnt")
	kLowers := buildOracleStack(t, root, "k-lower", stack)
	sLowers = buildStack(t, root, "s-lower", stack)

	mountKernelRedirect(t, kLowers, k+"/upper", k+"/work", k+"/mnt", redirect)
	var extra []string
	for _, o := range subjectOpts {
		if o != "" {
			extra = append(extra, o)
		}
	}
	mountSubject(t, sLowers, s+"/upper", s+"/work", s+"/mnt", extra...)
	return root, k, s, sLowers
}

// checkUpperWithKernel mounts the kernel read-only over the subject's upper
// directory (as the top lower layer, so nothing is written to it) and the
// oracle's form of the lowers, and compares that view with the subject's own.
func checkUpperWithKernel(t *testing.T, root string, stack []layer, upper string, want snapshot) {
	t.Helper()
	lowers := buildOracleStack(t, root, "u-lower", stack)
	mnt := filepath.Join(root, "upper-check")
	mustMkdirAll(t, mnt)
	mountKernel(t, append([]string{upper}, lowers...), "", "", mnt)
	got := takeSnapshot(mnt)
	unmountKernel(t, mnt)
	if d := diffSnapshots("subject", want, "kernel-over-upper", got); len(d) > 0 {
		t.Errorf("the kernel reads the subject's upper differently (%d paths):\n%s", len(d), strings.Join(d, "\n"))
	}
}
