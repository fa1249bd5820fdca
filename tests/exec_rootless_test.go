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
)

// rootlessBundle prepares, for the unprivileged user rootlessUser, a
// directory holding a copy of lamina and bundle/rootfs with busybox, all
// owned by that user. It skips when the user, runuser or busybox are
// missing.
func rootlessBundle(t *testing.T) (base string, u *user.User) {
	t.Helper()
	requireRoot(t) // to become the user and to prepare directories owned by it
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Skipf("needs user %q: %v", rootlessUser, err)
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skipf("needs runuser: %v", err)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (busybox-static)")
	}
	lamina := buildLamina(t)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	base, err = os.MkdirTemp("", "lamina-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	rootfs := base + "/bundle/rootfs"
	mustMkdirAll(t, rootfs+"/bin")
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootfs+"/bin/busybox", bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "sleep", "id", "cat", "hostname"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	exe, err := os.ReadFile(lamina)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+"/lamina", exe, 0o755); err != nil {
		t.Fatal(err)
	}
	filepath.Walk(base, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, uid, gid) })
	os.Chmod(base, 0o755)
	return base, u
}

// TestRootlessExec creates a container as an unprivileged user (a user
// namespace mapping only that user to root, from "lamina spec --rootless")
// and runs "lamina exec" in it as that user: the exec joins the container's
// user namespace first, then the namespaces it owns.
func TestRootlessExec(t *testing.T) {
	watchdog(t, 2*time.Minute)
	base, u := rootlessBundle(t)
	// The container's init keeps create's stdio: a file, not a pipe.
	script := `set -e
cd "$1"
./lamina spec --rootless --bundle bundle
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"sleep", "60"/' bundle/config.json
./lamina --root "$1/state" create --bundle bundle rl </dev/null >create.out 2>&1 || { cat create.out; exit 1; }
./lamina --root "$1/state" start rl
./lamina --root "$1/state" exec rl sh -c 'id -u; cat /proc/self/uid_map; hostname; cat /proc/1/cmdline'
`
	t.Cleanup(func() {
		runCmd(t, 30*time.Second, "runuser", "-u", rootlessUser, "--", base+"/lamina", "--root", base+"/state", "delete", "--force", "rl")
	})
	r := runCmd(t, 60*time.Second, "runuser", "-u", rootlessUser, "--", "sh", "-c", script, "sh", base)
	if r.code != 0 || r.err != nil {
		t.Fatalf("exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.code, r.err, r.stdout, r.stderr)
	}
	f := strings.Fields(r.stdout)
	if len(f) != 6 || f[0] != "0" || f[1] != "0" || f[2] != u.Uid || f[3] != "1" || f[4] != "lamina" || !strings.HasPrefix(f[5], "sleep") {
		t.Errorf("exec output %q: want uid 0, the mapping 0 %s 1, hostname lamina and init sleep", r.stdout, u.Uid)
	}
}
