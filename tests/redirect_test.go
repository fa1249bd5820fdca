package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRedirectDriverChoice: a lower holding a redirect the kernel does
// not follow (user.overlay.redirect, for a mount made as root) cannot be
// served by kernel overlayfs. --driver overlay refuses it with a clear
// error; --driver auto falls back to FUSE, which follows the redirect.
func TestRedirectDriverChoice(t *testing.T) {
	requireMountEnv(t)
	if subjectIsFuseOverlayfs() {
		t.Skip("lamina's drivers only")
	}
	watchdog(t, 60*time.Second)
	root := t.TempDir()
	top, bottom, mnt := root+"/top", root+"/bottom", root+"/mnt"
	mustMkdirAll(t, top+"/moved", bottom+"/d", mnt)
	if err := os.WriteFile(bottom+"/d/f", []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// What a rootless lamina leaves after renaming d to moved.
	if err := unix.Lsetxattr(top+"/moved", "user.overlay.redirect", []byte("/d"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(top+"/d", unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	opts := "lowerdir=" + top + ":" + bottom

	r := runCmd(t, 30*time.Second, subject, "--driver", "overlay", "-o", opts, mnt)
	if _, mounted := mountFSType(mnt); mounted {
		track(t, mnt, false)
		t.Fatal("--driver overlay mounted a lower with a redirect the kernel does not follow")
	}
	if r.code != 1 || !strings.Contains(r.stderr, "redirects kernel overlayfs does not follow") {
		t.Errorf("--driver overlay: exit %d, stderr %q; want 1 and the reason", r.code, r.stderr)
	}

	r = runCmd(t, 30*time.Second, subject, "--driver", "auto", "-o", opts, mnt)
	fstype, mounted := mountFSType(mnt)
	if mounted {
		track(t, mnt, strings.HasPrefix(fstype, "fuse"))
	}
	if r.code != 0 || !strings.HasPrefix(fstype, "fuse") {
		t.Fatalf("--driver auto: exit %d (%s), mounted %q; want FUSE", r.code, r.stderr, fstype)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "moved/f")); err != nil || string(b) != "f\n" {
		t.Errorf("moved/f through the redirect = %q, %v; want f", b, err)
	}
	if _, err := os.Lstat(filepath.Join(mnt, "d")); !os.IsNotExist(err) {
		t.Errorf("d: %v, want it whited out", err)
	}
	unmountSubject(t, mnt)
}
