package tests

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// subordinateRange returns the first range /etc/subuid (or /etc/subgid)
// gives name.
func subordinateRange(t *testing.T, file, name string) (start, size uint32) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Skipf("needs %s: %v", file, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) == 3 && p[0] == name {
			a, err1 := strconv.ParseUint(p[1], 10, 32)
			b, err2 := strconv.ParseUint(p[2], 10, 32)
			if err1 == nil && err2 == nil {
				return uint32(a), uint32(b)
			}
		}
	}
	t.Skipf("needs a range for %s in %s (scripts/setup.sh)", name, file)
	return 0, 0
}

// TestRootlessSubordinateIDs runs a container as an unprivileged user with
// two mapping ranges, its own id and its subordinate ids: lamina writes
// them through newuidmap and newgidmap, and the container's process runs
// as uid 1000, which only the second range maps.
func TestRootlessSubordinateIDs(t *testing.T) {
	watchdog(t, 2*time.Minute)
	for _, helper := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(helper); err != nil {
			t.Skipf("needs %s (package uidmap): %v", helper, err)
		}
	}
	base, u := rootlessBundle(t)
	subU, nU := subordinateRange(t, "/etc/subuid", rootlessUser)
	subG, nG := subordinateRange(t, "/etc/subgid", rootlessUser)
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)

	r := runCmd(t, 30*time.Second, "runuser", "-u", rootlessUser, "--", base+"/lamina", "spec", "--rootless", "--bundle", base+"/bundle")
	if r.code != 0 || r.err != nil {
		t.Fatalf("lamina spec: exit %d (%v): %s", r.code, r.err, r.stderr)
	}
	cfg := base + "/bundle/config.json"
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	s.Process.Terminal = false
	s.Process.Args = []string{"sh", "-c", "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map"}
	s.Process.User = specs.User{UID: 1000, GID: 1000}
	s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(uid), Size: 1}, {ContainerID: 1, HostID: subU, Size: nU}}
	s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(gid), Size: 1}, {ContainerID: 1, HostID: subG, Size: nG}}
	if b, err = json.Marshal(&s); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}

	r = runCmd(t, 60*time.Second, "runuser", "-u", rootlessUser, "--", base+"/lamina", "--root", base+"/state", "run", "--bundle", base+"/bundle", "subids")
	if r.code != 0 || r.err != nil {
		t.Fatalf("lamina run: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", r.code, r.err, r.stdout, r.stderr)
	}
	f := strings.Fields(r.stdout)
	want := []string{"1000", "1000",
		"0", u.Uid, "1", "1", strconv.Itoa(int(subU)), strconv.Itoa(int(nU)),
		"0", u.Gid, "1", "1", strconv.Itoa(int(subG)), strconv.Itoa(int(nG))}
	if strings.Join(f, " ") != strings.Join(want, " ") {
		t.Errorf("container printed %q, want %q", strings.Join(f, " "), strings.Join(want, " "))
	}
}
