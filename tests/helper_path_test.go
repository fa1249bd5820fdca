package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMountHelper mounts through mount(8) and mount.fuse3, the way
// "mount -t fuse.unionmount" and /etc/fstab do, with the driver chosen in
// the options.
func TestMountHelper(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	requireLamina(t)
	if _, err := exec.LookPath("mount.fuse3"); err != nil {
		t.Skipf("needs mount.fuse3 (fuse3): %v", err)
	}
	watchdog(t, 60*time.Second)
	root := t.TempDir()
	bin, lower, upper, work, mnt := root+"/bin", root+"/lower", root+"/upper", root+"/work", root+"/mnt"
	mustMkdirAll(t, bin, lower, upper, work, mnt)
	if err := os.Symlink(subject, filepath.Join(bin, "unionmount")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lower+"/f", []byte("via helper\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, driver := range []string{"fuse", "overlay"} {
		t.Run(driver, func(t *testing.T) {
			// "mount -t fuse.unionmount SRC" runs "unionmount" from mount's
			// sanitized PATH; "-t fuse PROG#SRC" runs PROG by path with the
			// same arguments (SRC MNT -o OPTS), without installing anything.
			opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work + ",driver=" + driver
			r := runCmd(t, 30*time.Second, "mount", "-t", "fuse", filepath.Join(bin, "unionmount")+"#unionmount", mnt, "-o", opts)
			if typ, ok := mountFSType(mnt); ok {
				track(t, mnt, strings.HasPrefix(typ, "fuse"))
			}
			if r.code != 0 || r.err != nil {
				t.Fatalf("mount -t fuse.unionmount: exit %d (%v): %s", r.code, r.err, r.stderr)
			}
			typ, _ := mountFSType(mnt)
			if want := map[string]string{"fuse": "fuse.lamina", "overlay": "overlay"}[driver]; typ != want {
				t.Errorf("mounted as %q, want %q", typ, want)
			}
			if b, err := os.ReadFile(mnt + "/f"); err != nil || string(b) != "via helper\n" {
				t.Errorf("read through the mount: %q, %v", b, err)
			}
			if r := runCmd(t, 30*time.Second, "umount", mnt); r.code != 0 {
				t.Fatalf("umount: %s", r.stderr)
			}
			untrack(mnt)
			waitDaemonGone(t, mnt)
		})
	}
}

// TestSIGTERMUnmounts: a foreground daemon unmounts and exits on SIGTERM.
func TestSIGTERMUnmounts(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	requireLamina(t)
	watchdog(t, 60*time.Second)
	root := t.TempDir()
	lower, upper, work, mnt := root+"/lower", root+"/upper", root+"/work", root+"/mnt"
	mustMkdirAll(t, lower, upper, work, mnt)
	if err := os.Symlink(".", root+"/link"); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{mnt, root + "/link/mnt"} {
		t.Run(strings.TrimPrefix(arg, root+"/"), func(t *testing.T) { sigtermUnmounts(t, lower, upper, work, mnt, arg) })
	}
}

// sigtermUnmounts mounts in the foreground on mnt, spelled arg on the
// command line, and checks that SIGTERM unmounts.
func sigtermUnmounts(t *testing.T, lower, upper, work, mnt, arg string) {
	cmd := exec.Command(subject, subjectArgs([]string{lower}, upper, work, arg, true)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, ok := mountFSType(mnt); ok {
			track(t, mnt, true)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the foreground daemon did not mount within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("daemon exit after SIGTERM: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("daemon still running 20s after SIGTERM")
	}
	if _, ok := mountFSType(mnt); ok {
		t.Error("still mounted after SIGTERM")
	} else {
		untrack(mnt)
	}
}

// TestLateDaemonLeavesNewMount: a daemon whose mount was removed while it
// was slow to notice (here: stopped) must not, on its way out, unmount the
// mount another daemon has made on the same mountpoint since. (Seen with
// unionmount-testsuite, which unmounts and remounts after each step.)
func TestLateDaemonLeavesNewMount(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	requireLamina(t)
	watchdog(t, 60*time.Second)
	root := t.TempDir()
	lower, mnt := root+"/lower", root+"/mnt"
	mustMkdirAll(t, lower, root+"/u1", root+"/w1", root+"/u2", root+"/w2", mnt)
	mountSubject(t, []string{lower}, root+"/u1", root+"/w1", mnt)
	old := daemonPIDs(mnt)
	if len(old) != 1 {
		t.Fatalf("daemons for %s: %v, want one", mnt, old)
	}
	a := old[0]
	if err := unix.Kill(a, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Kill(a, unix.SIGKILL) })
	if err := unix.Unmount(mnt, 0); err != nil {
		unix.Kill(a, unix.SIGCONT)
		t.Fatalf("unmount under the stopped daemon: %v", err)
	}
	untrack(mnt)
	mountSubject(t, []string{lower}, root+"/u2", root+"/w2", mnt)
	if err := unix.Kill(a, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitExit(t, a, "the first daemon, after its mount was removed")
	time.Sleep(100 * time.Millisecond) // what it did on its way out has landed
	if _, ok := mountFSType(mnt); !ok {
		untrack(mnt)
		t.Fatal("the first daemon, exiting, unmounted the second daemon's mount")
	}
	if err := os.WriteFile(mnt+"/f", []byte("x"), 0o644); err != nil {
		t.Errorf("write through the second mount: %v", err)
	}
	unmountSubject(t, mnt)
}

// TestDaemonLog: a daemonized unionmount's standard error is a file in
// /run/lamina, which keeps what the daemon says when it fails (here, the
// goroutine dump of SIGQUIT, as a crash would leave); a daemon that ends
// cleanly with nothing to say removes it.
func TestDaemonLog(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	requireLamina(t)
	if os.Getenv("LAMINA_UNIONMOUNT_DRIVER") == "overlay" {
		t.Skip("the kernel driver has no daemon")
	}
	watchdog(t, 60*time.Second)
	root := t.TempDir()
	lower, upper, work, mnt := root+"/lower", root+"/upper", root+"/work", root+"/mnt"
	mustMkdirAll(t, lower, upper, work, mnt)

	daemonLog := func() (pid int, log string) {
		t.Helper()
		pids := daemonPIDs(mnt)
		if len(pids) != 1 {
			t.Fatalf("daemons for %s: %v, want one", mnt, pids)
		}
		log, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pids[0]), "fd/2"))
		if err != nil || !strings.HasPrefix(log, "/run/lamina/unionmount-") {
			t.Fatalf("the daemon's standard error is %q (%v), want a file in /run/lamina", log, err)
		}
		return pids[0], log
	}

	mountSubject(t, []string{lower}, upper, work, mnt)
	_, log := daemonLog()
	unmountSubject(t, mnt)
	if _, err := os.Stat(log); !os.IsNotExist(err) {
		t.Errorf("%s after a clean unmount: %v, want it removed", log, err)
	}

	mountSubject(t, []string{lower}, upper, work, mnt)
	pid, log := daemonLog()
	t.Cleanup(func() { os.Remove(log) })
	if err := unix.Kill(pid, unix.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	waitExit(t, pid, "the daemon, on SIGQUIT")
	unix.Unmount(mnt, unix.MNT_DETACH) // the dead daemon's mount
	untrack(mnt)
	b, err := os.ReadFile(log)
	if err != nil || !strings.Contains(string(b), "SIGQUIT") || !strings.Contains(string(b), "goroutine") {
		t.Errorf("%s after SIGQUIT holds %d bytes (%v), want the goroutine dump", log, len(b), err)
	}
}

// waitExit waits up to 10 s for process pid (not a child of the test) to
// exit; who says which process and why it should.
func waitExit(t *testing.T, pid int, who string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for unix.Kill(pid, 0) == nil && !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) did not exit within 10 s", who, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
