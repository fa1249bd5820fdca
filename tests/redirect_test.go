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

// TestRootlessRedirect: an unprivileged user in a user namespace renames a
// lower directory with redirect_dir=on, which the auto driver serves with
// FUSE (kernel overlayfs with userxattr makes no redirects); the upper gets
// user.overlay.redirect; remounted with the auto driver and no option, the
// upper's redirect (which the kernel would not follow) keeps it on FUSE,
// which shows the directory's lower contents under its new name.
func TestRootlessRedirect(t *testing.T) {
	requireMountEnv(t)
	if subjectIsFuseOverlayfs() {
		t.Skip("lamina's drivers only")
	}
	uid, gid, base := rootlessBase(t, "python3")
	lower, upper, work, mnt := base+"/lower", base+"/upper", base+"/work", base+"/mnt"
	mustMkdirAll(t, lower+"/d", upper, work, mnt)
	if err := os.WriteFile(lower+"/d/f", []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{base, lower, lower + "/d", lower + "/d/f", upper, work, mnt} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { waitDaemonGone(t, mnt) })

	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	fstype := "grep ' " + mnt + " ' /proc/self/mounts | cut -d' ' -f3"
	script := strings.Join([]string{
		"set -e",
		shellJoin([]string{subject, "--driver", "auto", "-o", opts + ",redirect_dir=on", mnt}),
		fstype,
		shellJoin([]string{"python3", "-c", "import os, sys; os.rename(sys.argv[1], sys.argv[2])", mnt + "/d", mnt + "/e"}),
		shellJoin(subjectUnmountCmd(mnt)),
		shellJoin([]string{subject, "--driver", "auto", "-o", opts, mnt}),
		fstype,
		"cat " + shellQuote(mnt+"/e/f"),
		"ls " + shellQuote(mnt),
		shellJoin(subjectUnmountCmd(mnt)),
	}, "\n")
	r := runRootless(t, base, script)
	if want := "fuse.lamina\nfuse.lamina\nf\ne\n"; r.stdout != want {
		t.Errorf("rootless script printed %q, want %q (stderr %q)", r.stdout, want, r.stderr)
	}
	buf := make([]byte, 64)
	n, err := unix.Lgetxattr(upper+"/e", "user.overlay.redirect", buf)
	if err != nil || string(buf[:n]) != "/d" {
		t.Errorf("upper/e user.overlay.redirect = %q, %v; want /d", buf[:max(n, 0)], err)
	}
}

// TestBadRedirect: a lower directory whose redirect is invalid (a relative
// one with a slash) cannot be looked up, with EINVAL, whether redirects are
// followed or not, as on kernel overlayfs; its siblings and a layer root
// carrying one are fine.
func TestBadRedirect(t *testing.T) {
	requireMountEnv(t)
	if subjectIsFuseOverlayfs() {
		t.Skip("fuse-overlayfs does not read redirects")
	}
	watchdog(t, 60*time.Second)
	for _, mode := range []string{"off", "nofollow"} {
		t.Run(mode, func(t *testing.T) {
			root := t.TempDir()
			top, bottom := root+"/top", root+"/bottom"
			mustMkdirAll(t, top+"/bad", top+"/good", bottom+"/a/b", root+"/k", root+"/s")
			for dir, value := range map[string]string{top + "/bad": "a/b", top: "//"} {
				if err := unix.Lsetxattr(dir, "trusted.overlay.redirect", []byte(value), 0); err != nil {
					t.Fatal(err)
				}
			}
			mountKernelRedirect(t, []string{top, bottom}, "", "", root+"/k", mode)
			mountSubject(t, []string{top, bottom}, "", "", root+"/s", "redirect_dir="+mode)
			for _, name := range []string{"bad", "good", "a"} {
				var kst, sst unix.Stat_t
				kerr := unix.Lstat(filepath.Join(root, "k", name), &kst)
				serr := unix.Lstat(filepath.Join(root, "s", name), &sst)
				if kerr != serr {
					t.Errorf("lstat %s: kernel %v, subject %v", name, kerr, serr)
				}
			}
			unmountKernel(t, root+"/k")
			unmountSubject(t, root+"/s")
		})
	}
}
