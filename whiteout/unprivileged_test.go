package whiteout_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/lamina-dev/lamina/whiteout"
	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

// unprivUser is the ordinary account the unprivileged test runs as.
const unprivUser = "laminatest" // created by scripts/setup.sh

// helperEnv names the scratch directory for the helper process.
const helperEnv = "LAMINA_WHITEOUT_UNPRIV_DIR"

// TestUnprivilegedWriter runs TestUnprivilegedHelper in a copy of this test
// binary as an ordinary user, to check what NewWriter picks without
// CAP_SYS_ADMIN.
func TestUnprivilegedWriter(t *testing.T) {
	wt.RequireRoot(t)
	u, err := user.Lookup(unprivUser)
	if err != nil {
		t.Skipf("skipping: no user %q to run as: %v", unprivUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	dir := t.TempDir()
	// t.TempDir's directories are private to root; let the user in.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "whiteout.test")
	copyFile(t, os.Args[0], bin)
	scratch := filepath.Join(dir, "scratch")
	wt.Dir(t, scratch)
	if err := os.Chown(scratch, uid, gid); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-test.run=^TestUnprivilegedHelper$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+scratch)
	cmd.Dir = scratch
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as %s: %v\n%s", unprivUser, err, out)
	}
	t.Logf("helper as %s:\n%s", unprivUser, out)
}

// TestUnprivilegedHelper is the body of TestUnprivilegedWriter; it does
// nothing unless started by it.
func TestUnprivilegedHelper(t *testing.T) {
	scratch := os.Getenv(helperEnv)
	if scratch == "" {
		t.Skip("skipping: helper process only")
	}
	if os.Geteuid() == 0 {
		t.Fatal("helper runs as root")
	}
	probe := filepath.Join(scratch, "work")
	upper := filepath.Join(scratch, "upper")
	wt.Dir(t, probe)
	wt.Dir(t, upper)
	w, err := whiteout.NewWriter(probe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("writer: %v", w)
	const want = "whiteouts=chardev opaque=user.overlay.opaque origin=user.overlay.lamina.origin"
	if w.Privileged() || w.XattrNamespace() != "user" || w.String() != want {
		t.Errorf("Privileged = %v, XattrNamespace = %q, String = %q; want false, user, %q",
			w.Privileged(), w.XattrNamespace(), w, want)
	}
	writerRoundTrip(t, w, upper)

	link := filepath.Join(upper, "link")
	symlink(t, "nowhere", link)
	if err := w.SetOrigin(link, 3); !errors.Is(err, whiteout.ErrOriginUnsupported) {
		t.Errorf("SetOrigin(symlink) error = %v, want ErrOriginUnsupported", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
