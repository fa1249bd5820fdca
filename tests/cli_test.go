package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireLamina skips tests of lamina's own CLI contract when the subject is
// fuse-overlayfs, whose messages and exit codes differ.
func requireLamina(t *testing.T) {
	t.Helper()
	if subjectIsFuseOverlayfs() {
		t.Skipf("tests lamina's CLI contract; the subject is %s", subject)
	}
}

// cliEnv is a scratch tree for one CLI case: a lower layer with one file,
// empty upper, work and mount directories, and a regular file.
type cliEnv struct {
	dir, lower, upper, work, mnt, file string
}

func newCLIEnv(t *testing.T) cliEnv {
	d := t.TempDir()
	e := cliEnv{dir: d, lower: d + "/lower", upper: d + "/upper", work: d + "/work", mnt: d + "/mnt", file: d + "/file"}
	mustMkdirAll(t, e.lower, e.upper, e.work, e.mnt)
	if err := os.WriteFile(e.lower+"/f", []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// mountTmpfs mounts a small tmpfs on dir for the test's lifetime.
func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	mustMkdirAll(t, dir)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	track(t, dir, false)
}

// TestCLIErrors: each bad invocation exits 1 with one line on stderr that
// names the problem, and leaves nothing mounted.
func TestCLIErrors(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	requireLamina(t)
	type cliCase struct {
		name string
		args func(t *testing.T, e cliEnv) []string
		// mention: for each group, stderr must contain one of its strings.
		mention func(e cliEnv) [][]string
	}
	opts := func(s string, mnt string) []string { return append(subjectFlags(), "-o", s, mnt) }
	cases := []cliCase{
		{"missing_lower",
			func(t *testing.T, e cliEnv) []string { return opts("lowerdir="+e.dir+"/nope", e.mnt) },
			func(e cliEnv) [][]string { return [][]string{{e.dir + "/nope"}} }},
		{"lower_is_a_file",
			func(t *testing.T, e cliEnv) []string { return opts("lowerdir="+e.file, e.mnt) },
			func(e cliEnv) [][]string { return [][]string{{e.file}} }},
		{"upper_and_work_on_different_filesystems",
			func(t *testing.T, e cliEnv) []string {
				mountTmpfs(t, e.dir+"/tmpfs")
				mustMkdirAll(t, e.dir+"/tmpfs/work")
				return opts("lowerdir="+e.lower+",upperdir="+e.upper+",workdir="+e.dir+"/tmpfs/work", e.mnt)
			},
			func(e cliEnv) [][]string { return [][]string{{"workdir", e.dir + "/tmpfs/work"}} }},
		{"workdir_inside_upper",
			func(t *testing.T, e cliEnv) []string {
				mustMkdirAll(t, e.upper+"/w")
				return opts("lowerdir="+e.lower+",upperdir="+e.upper+",workdir="+e.upper+"/w", e.mnt)
			},
			func(e cliEnv) [][]string { return [][]string{{"workdir", e.upper + "/w"}} }},
		{"upper_without_workdir",
			func(t *testing.T, e cliEnv) []string { return opts("lowerdir="+e.lower+",upperdir="+e.upper, e.mnt) },
			func(e cliEnv) [][]string { return [][]string{{"workdir"}} }},
		{"no_lowerdir",
			func(t *testing.T, e cliEnv) []string { return opts("upperdir="+e.upper+",workdir="+e.work, e.mnt) },
			func(e cliEnv) [][]string { return [][]string{{"lowerdir"}} }},
		{"missing_mountpoint",
			func(t *testing.T, e cliEnv) []string { return opts("lowerdir="+e.lower, e.dir+"/nomnt") },
			func(e cliEnv) [][]string { return [][]string{{e.dir + "/nomnt"}} }},
		{"busy_mountpoint",
			func(t *testing.T, e cliEnv) []string {
				mountSubject(t, []string{e.lower}, "", "", e.mnt)
				return opts("lowerdir="+e.lower, e.mnt)
			},
			func(e cliEnv) [][]string { return [][]string{{e.mnt}} }},
		{"unknown_option",
			func(t *testing.T, e cliEnv) []string { return opts("lowerdir="+e.lower+",bogus_opt=1", e.mnt) },
			func(e cliEnv) [][]string { return [][]string{{"bogus_opt"}} }},
		{"unmount_not_mounted",
			func(t *testing.T, e cliEnv) []string { return []string{"--unmount", e.mnt} },
			func(e cliEnv) [][]string { return [][]string{{e.mnt}} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			watchdog(t, 60*time.Second)
			e := newCLIEnv(t)
			args := c.args(t, e)
			_, wasMounted := mountFSType(e.mnt)
			r := runCmd(t, 30*time.Second, append([]string{subject}, args...)...)
			if _, mounted := mountFSType(e.mnt); mounted && !wasMounted {
				track(t, e.mnt, true)
				t.Errorf("%s is mounted after a failed invocation", e.mnt)
			}
			checkOneLineError(t, args, r, c.mention(e))
		})
	}
}

func checkOneLineError(t *testing.T, args []string, r cmdResult, mention [][]string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("%q: exit %d (%v), want 1; stderr: %q", args, r.code, r.err, r.stderr)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	t.Logf("exit %d, stderr: %s", r.code, msg)
	if msg == "" || strings.Contains(msg, "\n") {
		t.Errorf("%q: stderr is not one line: %q", args, r.stderr)
	}
	for _, group := range mention {
		found := false
		for _, s := range group {
			found = found || strings.Contains(msg, s)
		}
		if !found {
			t.Errorf("%q: stderr %q names none of %q", args, msg, group)
		}
	}
}

// TestCLIAcceptsFuseOverlayfsOptions: options fuse-overlayfs takes are
// accepted (containers/storage passes some of them), whether they apply to
// lamina or not.
func TestCLIAcceptsFuseOverlayfsOptions(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	requireLamina(t)
	for _, opt := range []string{"noacl", "fsync=0", "xattr_permissions=0"} {
		t.Run(opt, func(t *testing.T) {
			watchdog(t, 60*time.Second)
			e := newCLIEnv(t)
			mountSubject(t, []string{e.lower}, e.upper, e.work, e.mnt, opt)
			if got := readString(filepath.Join(e.mnt, "f")); got != `ok "f\n"` {
				t.Errorf("read f through the mount: %s", got)
			}
			unmountSubject(t, e.mnt)
		})
	}
	// squash_to_root is a real option, not an ignored one: files show as root's.
	t.Run("squash_to_root", func(t *testing.T) {
		watchdog(t, 60*time.Second)
		e := newCLIEnv(t)
		if err := os.Chown(e.lower+"/f", 1000, 1000); err != nil {
			t.Fatal(err)
		}
		mountSubject(t, []string{e.lower}, e.upper, e.work, e.mnt, "squash_to_root")
		var st unix.Stat_t
		if err := unix.Lstat(e.mnt+"/f", &st); err != nil || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("f through a squash_to_root mount: uid %d gid %d (%v), want 0:0", st.Uid, st.Gid, err)
		}
		unmountSubject(t, e.mnt)
	})
}

// TestCLIVersion: --version prints fuse-overlayfs's form of the line
// (podman info shows it for a mount program) and exits 0.
func TestCLIVersion(t *testing.T) {
	requireLamina(t)
	r := runCmd(t, 10*time.Second, subject, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "unionmount: version ") {
		t.Errorf("unionmount --version: exit %d, stdout %q, stderr %q; want 0 and \"unionmount: version ...\"", r.code, r.stdout, r.stderr)
	}
}
