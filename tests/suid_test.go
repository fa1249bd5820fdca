package tests

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUnprivilegedWriteDropsSetuid: a user without CAP_FSETID who writes
// to or truncates a setuid or setgid file through the union clears those
// bits, and a write drops file capabilities, as on kernel overlayfs, with
// passthrough on and off. The daemon writes as root (which keeps the
// bits), so the clearing must come from the kernel's request on behalf of
// the writer (unionfs/killpriv.go).
//
// Not compared: a setgid file without group execute written by a user
// outside its group. Kernel overlayfs clears setgid then; the kernel's
// FUSE client recomputes the mode itself and clears setgid only with group
// execute, and with passthrough the daemon never sees the write, so every
// FUSE union (fuse-overlayfs too) keeps it.
func TestUnprivilegedWriteDropsSetuid(t *testing.T) {
	requireMountEnv(t)
	watchdog(t, 2*time.Minute)
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Skipf("needs the user %s (scripts/setup.sh): %v", rootlessUser, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	files := []struct {
		name string
		perm os.FileMode
		cmd  string
		caps bool // give the file a security.capability first
	}{
		{name: "suid_append", perm: 0o777 | os.ModeSetuid, cmd: "echo x >> %s"},
		{name: "sgid_append", perm: 0o777 | os.ModeSetgid, cmd: "echo x >> %s"},
		{name: "suid_truncate", perm: 0o777 | os.ModeSetuid, cmd: "truncate -s 1 %s"},
		{name: "sgid_truncate", perm: 0o777 | os.ModeSetgid, cmd: "truncate -s 1 %s"},
		{name: "suid_sgid_truncate_up", perm: 0o777 | os.ModeSetuid | os.ModeSetgid, cmd: "truncate -s 100 %s"},
		{name: "suid_overwrite", perm: 0o777 | os.ModeSetuid, cmd: "echo x > %s"},
		{name: "plain_append", perm: 0o777, cmd: "echo x >> %s"},
		{name: "caps_append", perm: 0o777, cmd: "echo x >> %s", caps: true},
		{name: "caps_truncate", perm: 0o777, cmd: "truncate -s 0 %s", caps: true},
		{name: "caps_read", perm: 0o777, cmd: "cat %s >/dev/null", caps: true},
	}
	var script []string
	for _, f := range files {
		script = append(script, fmt.Sprintf(f.cmd, f.name))
	}

	// modes runs the script as the unprivileged user in a fresh union
	// mounted by mount, and returns the files' modes afterwards.
	modes := func(t *testing.T, mount func(lowers []string, upper, work, mnt string), unmount func(mnt string)) string {
		lower, upper, work, mnt := userReachableDirs(t)
		for _, f := range files {
			p := filepath.Join(lower, f.name)
			if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, f.perm); err != nil {
				t.Fatal(err)
			}
			if f.caps {
				if err := syscall.Setxattr(p, "security.capability", netBindCap, 0); err != nil {
					t.Fatalf("set security.capability: %v", err)
				}
			}
		}
		mount([]string{lower}, upper, work, mnt)
		defer unmount(mnt)
		cmd := exec.Command("/bin/sh", "-c", strings.Join(script, "; "))
		cmd.Dir = mnt
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("as %s: %v: %s", rootlessUser, err, out)
		}
		var got []string
		for _, f := range files {
			st, err := os.Stat(filepath.Join(mnt, f.name))
			if err != nil {
				t.Fatal(err)
			}
			caps := "no caps"
			if _, err := syscall.Getxattr(filepath.Join(mnt, f.name), "security.capability", make([]byte, 64)); err == nil {
				caps = "caps"
			}
			got = append(got, fmt.Sprintf("%s %v %s", f.name, st.Mode(), caps))
		}
		return strings.Join(got, "\n")
	}

	want := modes(t, func(l []string, u, w, m string) { mountKernel(t, l, u, w, m) }, func(m string) { unmountKernel(t, m) })
	if !strings.Contains(want, "suid_append -rwxrwxrwx") || !strings.Contains(want, "caps_append -rwxrwxrwx no caps") || !strings.Contains(want, "caps_read -rwxrwxrwx caps") {
		t.Fatalf("kernel overlayfs kept setuid or capabilities on an unprivileged write, or lost capabilities on a read; this test's premise fails:\n%s", want)
	}
	for _, pt := range []string{"passthrough=on", "passthrough=off"} {
		t.Run(pt, func(t *testing.T) {
			var extra []string
			if !subjectIsFuseOverlayfs() {
				extra = append(extra, pt)
			}
			got := modes(t, func(l []string, u, w, m string) {
				mountSubject(t, l, u, w, m, append(extra, "allow_other")...)
			}, func(m string) { unmountSubject(t, m) })
			if got != want {
				t.Errorf("modes after the writes:\n%s\nkernel overlayfs:\n%s", got, want)
			}
		})
	}
}

// netBindCap is a security.capability value (struct vfs_cap_data, revision
// 2): CAP_NET_BIND_SERVICE permitted and effective.
var netBindCap = []byte{
	0x01, 0x00, 0x00, 0x02, // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
	0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, // permitted, inheritable (low word)
	0, 0, 0, 0, 0, 0, 0, 0, // high word
}

// userReachableDirs makes lower, upper, work and mount directories in a
// fresh directory that other users may reach (the test's temporary
// directories are 0700).
func userReachableDirs(t *testing.T) (lower, upper, work, mnt string) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lower, upper, work, mnt = filepath.Join(root, "lower"), filepath.Join(root, "upper"), filepath.Join(root, "work"), filepath.Join(root, "mnt")
	mustMkdirAll(t, lower, upper, work, mnt)
	return lower, upper, work, mnt
}
