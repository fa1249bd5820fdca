package tests

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rootlessUser is the unprivileged account the rootless test runs as.
const rootlessUser = "laminatest" // created by scripts/setup.sh

// TestRootless mounts, writes, deletes and unmounts as an unprivileged user
// inside `unshare -Urm`, the way rootless podman runs a mount program, and
// checks what the subject left in the upper directory.
// TestRootless runs lamina's FUSE driver rootless, and "auto", which in a
// user namespace picks kernel overlayfs with userxattr.
func TestRootless(t *testing.T) {
	drivers := map[string]string{"fuse": "fuse.lamina", "auto": "overlay"}
	for _, d := range []string{"fuse", "auto"} {
		t.Run(d, func(t *testing.T) {
			if subjectIsFuseOverlayfs() {
				if d != "fuse" {
					t.Skip("fuse-overlayfs has no --driver")
				}
			} else {
				t.Setenv("LAMINA_UNIONMOUNT_DRIVER", d)
			}
			testRootless(t, drivers[d])
		})
	}
}

// testRootless mounts, writes, deletes and unmounts as an unprivileged user
// in a user namespace; fstype is the mount type to expect ("" for any).
func testRootless(t *testing.T, fstype string) {
	uid, gid, base := rootlessBase(t)
	lower, upper, work, mnt := base+"/lower", base+"/upper", base+"/work", base+"/mnt"
	mustMkdirAll(t, lower, upper, work, mnt)
	if err := os.WriteFile(lower+"/lowerfile", []byte("from lower\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, lower, lower + "/lowerfile", upper, work, mnt} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	// The mount lives in the user's mount namespace; a daemon left behind
	// by a failed script is found by its mount point and killed.
	t.Cleanup(func() { waitDaemonGone(t, mnt) })

	mount := append([]string{subject}, subjectArgs([]string{lower}, upper, work, mnt, false)...)
	script := strings.Join([]string{
		"set -e",
		shellJoin(mount),
		"echo hi > " + shellQuote(mnt+"/new"),
		"cat " + shellQuote(mnt+"/lowerfile"),
		"rm " + shellQuote(mnt+"/lowerfile"),
		"ls -a " + shellQuote(mnt),
		"grep ' " + mnt + " ' /proc/self/mounts | cut -d' ' -f3 >&2",
		shellJoin(subjectUnmountCmd(mnt)),
	}, "\n")
	r := runRootless(t, base, script)
	if !subjectIsFuseOverlayfs() && !strings.Contains(r.stderr, fstype) {
		t.Errorf("mounted as %q, want %s", strings.TrimSpace(r.stderr), fstype)
	}
	wantOut := "from lower\n.\n..\nnew\n"
	if r.stdout != wantOut {
		t.Errorf("rootless script output %q, want %q (stderr %q)", r.stdout, wantOut, r.stderr)
	}

	data, err := os.ReadFile(upper + "/new")
	if err != nil || string(data) != "hi\n" {
		t.Errorf("upper/new: %q, %v; want \"hi\\n\"", data, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(upper+"/new", &st); err == nil && (int(st.Uid) != uid || int(st.Gid) != gid) {
		t.Errorf("upper/new owned by %d:%d, want %s (%d:%d)", st.Uid, st.Gid, rootlessUser, uid, gid)
	}
	if !hasWhiteout(upper, "lowerfile") {
		t.Errorf("upper holds no whiteout for lowerfile; upper:\n%s", strings.Join(listRaw(upper), "\n"))
	}
	if got, _ := os.ReadFile(lower + "/lowerfile"); string(got) != "from lower\n" {
		t.Errorf("the lower layer changed: lowerfile = %q", got)
	}
}

// rootlessBase skips unless the test can run as rootlessUser in a user
// namespace (root, FUSE, runuser, unshare and tools), starts the watchdog
// and returns the user's ids and a fresh directory for the test's layers,
// outside the test's own temporary directory, which the user cannot reach.
func rootlessBase(t *testing.T, tools ...string) (uid, gid int, base string) {
	t.Helper()
	requireRoot(t) // to become the user and to prepare directories owned by it
	requireFUSE(t)
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Skipf("needs user %q: %v", rootlessUser, err)
	}
	for _, tool := range append([]string{"runuser", "unshare"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	watchdog(t, 90*time.Second)
	base, err = os.MkdirTemp("", "lamina-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	return uid, gid, base
}

// runRootless runs the shell script as rootlessUser in `unshare -Urm`
// with HOME at base, and fails the test unless it exits 0.
func runRootless(t *testing.T, base, script string) cmdResult {
	t.Helper()
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + base}
	r := runCmdEnv(t, 60*time.Second, env, "runuser", "-u", rootlessUser, "--", "unshare", "-Urm", "sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("rootless script: exit %d (%v)\nscript:\n%s\nstdout:\n%s\nstderr:\n%s", r.code, r.err, script, r.stdout, r.stderr)
	}
	return r
}

// hasWhiteout reports whether dir holds a whiteout for name in any format a
// rootless union may write: a 0/0 device or an empty .wh.NAME file.
func hasWhiteout(dir, name string) bool {
	var st unix.Stat_t
	if unix.Lstat(filepath.Join(dir, name), &st) == nil &&
		st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
		return true
	}
	return unix.Lstat(filepath.Join(dir, whPrefix+name), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// shellJoin quotes argv for sh.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
