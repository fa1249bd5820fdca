package tests

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"
)

// aclLowerScript makes the lower layer in $L: files and directories that
// only an ACL lets $U reach, a directory with a default ACL (d), and a
// file and a directory under d for whiteouts to replace.
const aclLowerScript = `set -e
echo secret > $L/f; chmod 600 $L/f; setfacl -m u:$U:r $L/f
echo plain > $L/p; chmod 600 $L/p
mkdir $L/d; chmod 700 $L/d; setfacl -m u:$U:rwx $L/d; setfacl -d -m u:$U:rw,g::-,o::- $L/d
echo w > $L/d/w; mkdir $L/d/wd; echo z > $L/d/wd/z
echo q > $L/q; mkdir $L/qd
`

// aclScript runs on the mount $M as root, and as $U through "as". Each
// step prints what it did, the modes and ACLs it left and the errors it
// met, with paths relative to the mount.
const aclScript = `as() { setpriv --reuid=$U --regid=$U --clear-groups sh -c "$1" 2>&1; }
acl() { getfacl -n -p "$@" 2>&1; }
cd $M
echo "== read through a lower ACL"; as "cat f"
echo "== read without one"; as "cat p"
echo "== list and create in a directory an ACL opens"; as "ls d; echo new > d/new && cat d/new"
echo "== the new file inherits the default ACL"; acl d/new; stat -c '%A %u' d/new
echo "== setfacl copies up"; setfacl -m u:$U:rw p; as "echo more >> p; cat p"; acl p
echo "== chmod sets the mask"; chmod 600 p; acl p; as "cat p"
echo "== remove the ACL"; setfacl -b f; as "cat f"; stat -c %A f
echo "== mkdir inherits both ACLs"; mkdir d/sub; acl d/sub
echo "== a default ACL overrides the umask"; (umask 077; touch d/um; mkdir d/umd; mkfifo d/fifo); stat -c %A d/um d/umd d/fifo; acl d/um
echo "== without a default ACL the umask applies"; (umask 077; touch um; mkdir umd); stat -c %A um umd
echo "== create over a whiteout"; rm d/w; (umask 077; echo n > d/w); stat -c %A d/w; acl d/w
echo "== mkdir over a whiteout"; rm -r d/wd; (umask 077; mkdir d/wd); ls -a d/wd; acl d/wd
echo "== sticky directories"; (umask 077; mkdir -m 1777 d/st; mkdir d/st2; chmod 1770 d/st2); stat -c %A d/st d/st2
echo "== setgid and sticky bits in mkdir's mode"; python3 -c 'import os; os.umask(0o22); os.mkdir("d/st3", 0o3777); os.mkdir("st4", 0o3777)'; stat -c %A d/st3 st4; acl d/st3
echo "== named group"; setfacl -m g:4242:rw p; acl p
echo "== remove ACLs that do not exist: lower entries refuse, upper ones succeed (tar --acls does this)"
setfattr -x system.posix_acl_access q; echo $?; setfattr -x system.posix_acl_default qd; echo $?
mkdir nd; setfattr -x system.posix_acl_default nd; echo $?; setfattr -x system.posix_acl_access nd; echo $?; setfattr -x user.none nd; echo $?
echo "== as the user, umask 077"; as "umask 077; echo u > d/byuser; mkdir d/udir; stat -c '%A %u' d/byuser d/udir"
`

// TestPOSIXACL: POSIX ACLs through the union, against kernel overlayfs:
// enforcement of lower and copied-up ACLs for a user they name, setfacl
// (copy-up, mask and mode kept in step), default ACLs inherited by new
// entries (over whiteouts too) and overriding the umask, with passthrough
// on and off; then the upper layer's ACLs. With noacl, only the mode bits
// count.
func TestPOSIXACL(t *testing.T) {
	requireMountEnv(t)
	watchdog(t, 3*time.Minute)
	u := requireACLTools(t, "setfattr", "setpriv")
	env := []string{"PATH=" + os.Getenv("PATH"), "U=" + u.Uid}

	// view mounts a fresh union with mount and returns the script's
	// output, then the upper layer's ACLs.
	view := func(t *testing.T, mount func(lowers []string, upper, work, mnt string), unmount func(mnt string)) string {
		lower, upper, work, mnt := userReachableDirs(t)
		if r := runCmdEnv(t, time.Minute, append(env, "L="+lower), "sh", "-c", aclLowerScript); r.code != 0 {
			t.Fatalf("make the lower layer: %v: %s", r.err, r.stderr)
		}
		mount([]string{lower}, upper, work, mnt)
		r := runCmdEnv(t, time.Minute, append(env, "M="+mnt), "sh", "-c", aclScript)
		unmount(mnt)
		if r.err != nil && r.code < 0 {
			t.Fatalf("script: %v", r.err)
		}
		up := runCmdEnv(t, time.Minute, env, "sh", "-c", "cd "+upper+" && getfacl -n -p -R . 2>&1")
		return r.stdout + r.stderr + "== upper layer\n" + up.stdout
	}

	want := view(t, func(l []string, up, w, m string) { mountKernel(t, l, up, w, m) }, func(m string) { unmountKernel(t, m) })
	if !strings.Contains(want, "== read through a lower ACL\nsecret\n") {
		t.Fatalf("kernel overlayfs does not apply the lower ACL; this test's premise fails:\n%s", want)
	}
	for _, pt := range []string{"passthrough=on", "passthrough=off"} {
		t.Run(pt, func(t *testing.T) {
			got := view(t, func(l []string, up, w, m string) {
				mountSubject(t, l, up, w, m, pt, "allow_other")
			}, func(m string) { unmountSubject(t, m) })
			if got != want {
				t.Errorf("ACLs through the union:\n%s\nkernel overlayfs:\n%s", got, want)
			}
		})
	}
	t.Run("uidmapping", func(t *testing.T) {
		// The layers store the container's ids; the kernel, which
		// enforces ACLs, must see the union's in named entries too.
		e := newCLIEnv(t)
		if r := runCmd(t, time.Minute, "setfacl", "-m", "u:1000:r,g:50:r", e.lower+"/f"); r.code != 0 {
			t.Fatalf("setfacl: %v: %s", r.err, r.stderr)
		}
		mountSubject(t, []string{e.lower}, e.upper, e.work, e.mnt,
			"uidmapping=0:100000:65536", "gidmapping=0:100000:65536")
		defer unmountSubject(t, e.mnt)
		if got := runCmd(t, time.Minute, "getfacl", "-n", "-p", e.mnt+"/f").stdout; !strings.Contains(got, "user:101000:r--\n") || !strings.Contains(got, "group:100050:r--\n") {
			t.Errorf("lower ACL through the union, want user 101000 and group 100050:\n%s", got)
		}
		if r := runCmd(t, time.Minute, "setfacl", "-m", "u:101002:rw", e.mnt+"/f"); r.code != 0 {
			t.Fatalf("setfacl through the union: %v: %s", r.err, r.stderr)
		}
		if got := runCmd(t, time.Minute, "getfacl", "-n", "-p", e.upper+"/f").stdout; !strings.Contains(got, "user:1002:rw-\n") || !strings.Contains(got, "user:1000:r--\n") {
			t.Errorf("copied-up ACL in the upper layer, want users 1000 and 1002:\n%s", got)
		}
	})
	t.Run("noacl", func(t *testing.T) {
		got := view(t, func(l []string, up, w, m string) {
			mountSubject(t, l, up, w, m, "noacl", "allow_other")
		}, func(m string) { unmountSubject(t, m) })
		if !strings.Contains(got, "== read through a lower ACL\ncat: f: Permission denied\n") {
			t.Errorf("with noacl, a lower ACL still opened a 0600 file:\n%s", got)
		}
	})
}

// aclRootlessScript runs as an unprivileged user in a user namespace
// (unshare -Urm), where the user is root and no other id is mapped: it
// makes a lower layer with a default ACL, mounts it with $MOUNT, and checks
// default ACLs against the umask (new entries, one over a whiteout) and
// setfacl through the mount.
const aclRootlessScript = `set -e
mkdir $B/l/d; setfacl -d -m u::rwx,g::rwx,o::- $B/l/d; echo x > $B/l/d/f; echo w > $B/l/d/w; setfacl -m g::rw $B/l/d/f
eval "$MOUNT"
cd $B/mnt; set +e
acl() { getfacl -n -p "$@" 2>&1; }
acl d d/f
(umask 077; touch d/new; mkdir d/nd; rm d/w; echo n > d/w); stat -c %A d/new d/nd d/w; acl d/nd d/w
setfacl -m u::rw,g::r,o::r d/f; acl d/f; stat -c %A d/f
cd /; umount $B/mnt
`

// TestPOSIXACLRootless: default ACLs and setfacl through a union mounted
// by an unprivileged user in a user namespace, the subject's FUSE driver
// against kernel overlayfs with userxattr.
func TestPOSIXACLRootless(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	requireOverlay(t)
	watchdog(t, 2*time.Minute)
	u := requireACLTools(t, "runuser", "unshare")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	t.Setenv("LAMINA_UNIONMOUNT_DRIVER", "fuse")

	// view runs the script with the mount command mount (given the base
	// directory) and returns its output.
	view := func(t *testing.T, mount func(b string) []string) string {
		b, err := os.MkdirTemp("", "lamina-acl-rootless-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(b) })
		for _, d := range []string{b, b + "/l", b + "/up", b + "/wk", b + "/mnt"} {
			mustMkdirAll(t, d)
			if err := os.Chown(d, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { waitDaemonGone(t, b+"/mnt") })
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b, "B=" + b, "MOUNT=" + shellJoin(mount(b))}
		r := runCmdEnv(t, time.Minute, env, "runuser", "-u", rootlessUser, "--", "unshare", "-Urm", "sh", "-c", aclRootlessScript)
		if r.code != 0 {
			t.Fatalf("rootless script: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.code, r.err, r.stdout, r.stderr)
		}
		return strings.ReplaceAll(r.stdout+r.stderr, b, "B")
	}
	want := view(t, func(b string) []string {
		return []string{"mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + b + "/l,upperdir=" + b + "/up,workdir=" + b + "/wk,userxattr", b + "/mnt"}
	})
	if !strings.Contains(want, "-rw-rw----\ndrwxrwx---\n-rw-rw----\n") {
		t.Fatalf("kernel overlayfs did not let the default ACL override the umask; this test's premise fails:\n%s", want)
	}
	got := view(t, func(b string) []string {
		return append([]string{subject}, subjectArgs([]string{b + "/l"}, b+"/up", b+"/wk", b+"/mnt", false)...)
	})
	if got != want {
		t.Errorf("rootless ACLs through the union:\n%s\nkernel overlayfs:\n%s", got, want)
	}
}

// requireACLTools skips t unless setfacl, getfacl and the other tools are
// installed, the subject applies default ACLs, and the unprivileged user
// exists, whom it returns.
func requireACLTools(t *testing.T, tools ...string) *user.User {
	t.Helper()
	for _, tool := range append([]string{"setfacl", "getfacl"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (packages acl, attr, util-linux; scripts/setup.sh): %v", tool, err)
		}
	}
	if subjectIsFuseOverlayfs() {
		t.Skip("fuse-overlayfs does not apply default ACLs to new entries")
	}
	u, err := user.Lookup(rootlessUser)
	if err != nil {
		t.Skipf("needs the user %s (scripts/setup.sh): %v", rootlessUser, err)
	}
	return u
}
