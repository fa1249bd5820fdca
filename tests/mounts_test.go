package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// live holds every mount a test made and has not yet unmounted, so that the
// watchdog can abort them and t.Cleanup can remove them.
var (
	liveMu sync.Mutex
	live   = map[string]bool{} // mountpoint -> is FUSE
)

func track(t *testing.T, mnt string, fuse bool) {
	liveMu.Lock()
	live[mnt] = fuse
	liveMu.Unlock()
	t.Cleanup(func() { cleanupMount(t, mnt) })
}

func untrack(mnt string) {
	liveMu.Lock()
	delete(live, mnt)
	liveMu.Unlock()
}

// abortLiveMounts kills the daemons behind the live FUSE mounts (which aborts
// their connections, failing any blocked request) and detaches every mount.
func abortLiveMounts() {
	liveMu.Lock()
	defer liveMu.Unlock()
	for mnt, fuse := range live {
		if fuse {
			for _, pid := range daemonPIDs(mnt) {
				unix.Kill(pid, unix.SIGKILL)
			}
		}
		unix.Unmount(mnt, unix.MNT_DETACH)
	}
}

// cleanupMount unmounts mnt if a test left it mounted: normally first, then
// lazily. It then makes sure no daemon serving mnt is left running.
func cleanupMount(t *testing.T, mnt string) {
	liveMu.Lock()
	_, ok := live[mnt]
	liveMu.Unlock()
	if !ok {
		return
	}
	if _, mounted := mountFSType(mnt); mounted {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Logf("cleanup: unmount %s: %v; detaching", mnt, err)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	}
	waitDaemonGone(t, mnt)
	untrack(mnt)
}

// overlayOpts spells the oracle's mount options. The features that change
// semantics are pinned off, whatever the kernel's defaults, except
// redirect_dir, which is redirect ("off": none made, those found followed).
func overlayOpts(lowers []string, upper, work, redirect string) string {
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	return opts + ",redirect_dir=" + redirect + ",index=off,metacopy=off"
}

// mountKernel mounts kernel overlayfs (the oracle) on mnt.
func mountKernel(t *testing.T, lowers []string, upper, work, mnt string) {
	t.Helper()
	mountKernelRedirect(t, lowers, upper, work, mnt, "off")
}

// mountKernelRedirect is mountKernel with redirect_dir=redirect.
func mountKernelRedirect(t *testing.T, lowers []string, upper, work, mnt, redirect string) {
	t.Helper()
	opts := overlayOpts(lowers, upper, work, redirect)
	if err := unix.Mount("overlay", mnt, "overlay", 0, opts); err != nil {
		t.Fatalf("mount kernel overlay on %s (-o %s): %v", mnt, opts, err)
	}
	track(t, mnt, false)
}

func unmountKernel(t *testing.T, mnt string) {
	t.Helper()
	if err := unix.Unmount(mnt, 0); err != nil {
		t.Errorf("unmount kernel overlay %s: %v", mnt, err)
		return
	}
	untrack(mnt)
}

// mountSubject runs the subject, which must return once mnt is ready.
func mountSubject(t *testing.T, lowers []string, upper, work, mnt string, extra ...string) {
	t.Helper()
	argv := append([]string{subject}, subjectArgs(lowers, upper, work, mnt, false, extra...)...)
	r := runCmd(t, 30*time.Second, argv...)
	if _, mounted := mountFSType(mnt); mounted {
		track(t, mnt, true)
	}
	if r.code != 0 || r.err != nil {
		t.Fatalf("mount subject: %q: exit %d (%v)\nstdout: %s\nstderr: %s", argv, r.code, r.err, r.stdout, r.stderr)
	}
	if _, mounted := mountFSType(mnt); !mounted {
		t.Fatalf("mount subject: %q exited 0 but %s is not a mount point", argv, mnt)
	}
}

// unmountSubject unmounts mnt with the subject's documented command and
// checks that the daemon goes away.
func unmountSubject(t *testing.T, mnt string) {
	t.Helper()
	r := runCmd(t, 30*time.Second, subjectUnmountCmd(mnt)...)
	if r.code != 0 || r.err != nil {
		t.Errorf("unmount subject: %q: exit %d (%v): %s", subjectUnmountCmd(mnt), r.code, r.err, r.stderr)
		return
	}
	if _, mounted := mountFSType(mnt); mounted {
		t.Errorf("unmount subject: %s is still mounted after %q", mnt, subjectUnmountCmd(mnt))
		return
	}
	waitDaemonGone(t, mnt)
	untrack(mnt)
}

// mountFSType returns the file system type mounted on mnt, if any, reading
// /proc/self/mountinfo (which never touches the mount itself).
func mountFSType(mnt string) (fstype string, ok bool) {
	info := mountinfoFor(mnt)
	if info == nil {
		return "", false
	}
	return info.fstype, true
}

type mountinfo struct {
	majorMinor, fstype string
}

// mountinfoFor returns the topmost mount on mnt.
func mountinfoFor(mnt string) *mountinfo {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var found *mountinfo
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 10 || unescapeMountinfo(f[4]) != mnt {
			continue
		}
		for i := 6; i < len(f)-1; i++ {
			if f[i] == "-" {
				found = &mountinfo{majorMinor: f[2], fstype: f[i+1]}
				break
			}
		}
	}
	return found
}

func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// daemonPIDs returns the processes (other than this one) that have mnt as
// one of their arguments: the daemons a test started for that mount point.
// Mount points are unique temporary paths, so nothing else matches.
func daemonPIDs(mnt string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !hasArg(cmdline, mnt) || isZombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func hasArg(cmdline []byte, arg string) bool {
	for _, a := range strings.Split(string(cmdline), "\x00") {
		if a == arg {
			return true
		}
	}
	return false
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// waitDaemonGone waits up to 5 s for the daemons serving mnt to exit after an
// unmount; one that stays is an error, and is killed.
func waitDaemonGone(t *testing.T, mnt string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids := daemonPIDs(mnt)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("daemon(s) %v for %s still running 5s after unmount; killing", pids, mnt)
			for _, pid := range pids {
				unix.Kill(pid, unix.SIGKILL)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
