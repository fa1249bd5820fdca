package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// runImageLayers is a busybox image: layer 1 has busybox, users and
// /etc/gone; layer 2 deletes /etc/gone with a whiteout.
func runImageLayers(t *testing.T) [][]imgEntry {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("needs a static /bin/busybox (busybox-static): %v", err)
	}
	l1 := []imgEntry{
		dirE("bin", 0o755, 0, 0), dirE("etc", 0o755, 0, 0), dirE("srv", 0o755, 0, 0), dirE("tmp", 0o1777, 0, 0),
		fileE("bin/busybox", 0o755, 0, 0, string(bb)),
		fileE("etc/passwd", 0o644, 0, 0, "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/sh\n"),
		fileE("etc/group", 0o644, 0, 0, "root:x:0:\napp:x:1000:\n"),
		fileE("etc/gone", 0o644, 0, 0, "deleted by layer 2\n"),
	}
	for _, b := range []string{"sh", "echo", "cat", "id", "hostname", "pwd", "touch", "ls", "env", "tty", "stty"} {
		l1 = append(l1, symE("bin/"+b, "busybox"))
	}
	l2 := []imgEntry{dirE("etc", 0o755, 0, 0), whE("etc/.wh.gone")}
	return [][]imgEntry{l1, l2}
}

// TestImageRun runs containers from an image with "lamina run IMAGE",
// pulling it from a registry, through both union drivers.
func TestImageRun(t *testing.T) {
	requireRoot(t)
	requireFUSE(t)
	watchdog(t, 90*time.Second)
	lamina := buildLamina(t)
	host := startMemRegistry(t)
	ref := host + "/lamina/runtest:v1"
	pushImage(t, ref, v1.Config{
		Cmd: []string{"/bin/sh", "-c", "echo image-cmd"}, Env: []string{"FROM_IMAGE=1", "PATH=/bin"}, WorkingDir: "/srv",
	}, runImageLayers(t)...)
	storeDir, state := t.TempDir(), t.TempDir()
	run := func(t *testing.T, args ...string) cmdResult {
		t.Helper()
		argv := append([]string{lamina, "run", "--root", state, "--store", storeDir}, args...)
		return runCmd(t, 60*time.Second, argv...)
	}
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
	}{
		{name: "image cmd", args: []string{ref}, stdout: "image-cmd"},
		{name: "exit code", args: []string{ref, "sh", "-c", "exit 5"}, code: 5},
		{name: "pid 1 and env", args: []string{"-e", "X=y", ref, "sh", "-c", "echo $$ $FROM_IMAGE $X"}, stdout: "1 1 y"},
		{name: "workdir from image", args: []string{ref, "pwd"}, stdout: "/srv"},
		{name: "user by name", args: []string{"-u", "app", ref, "id", "-u"}, stdout: "1000"},
		{name: "hostname", args: []string{"--hostname", "box", ref, "hostname"}, stdout: "box"},
		{name: "whiteout hides", args: []string{ref, "cat", "/etc/gone"}, code: 1},
		{name: "read-only root", args: []string{"--read-only", ref, "touch", "/x"}, code: 1},
		{name: "entrypoint", args: []string{"--entrypoint", "/bin/echo", ref, "via", "entrypoint"}, stdout: "via entrypoint"},
		{name: "kernel driver", args: []string{"--driver", "overlay", ref, "sh", "-c", "ls /etc"}, stdout: "passwd"},
		{name: "tty", args: []string{"-t", ref, "sh", "-c", "tty; [ -t 0 ] && echo stdin-is-a-tty; exit 6"}, code: 6, stdout: "/dev/pts/0\r\nstdin-is-a-tty\r\n"},
		{name: "no tty", args: []string{ref, "sh", "-c", "tty; exit 0"}, stdout: "not a tty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--rm"}, c.args...)
			if c.args[0] != "--driver" {
				args = append([]string{"--driver", "fuse"}, args...) // auto would pick the kernel as root
			}
			r := run(t, args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d (%v)\nstdout: %s\nstderr: %s", r.code, c.code, r.err, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, c.stdout) {
				t.Errorf("stdout %q lacks %q", r.stdout, c.stdout)
			}
		})
	}
	t.Run("rm leaves nothing", func(t *testing.T) {
		if ents, _ := os.ReadDir(filepath.Join(storeDir, "containers")); len(ents) != 0 {
			t.Errorf("containers left after --rm: %v", ents)
		}
		if mi := mountinfoFor(filepath.Join(storeDir, "containers")); mi != nil {
			t.Errorf("a mount is left under the store: %+v", mi)
		}
	})
	t.Run("upper persists until rm", func(t *testing.T) {
		if r := run(t, "--driver", "fuse", "--name", "keep", ref, "sh", "-c", "echo kept > /srv/note"); r.code != 0 {
			t.Fatalf("run: exit %d: %s", r.code, r.stderr)
		}
		ups, _ := filepath.Glob(filepath.Join(storeDir, "containers", "*", "upper", "srv", "note"))
		if len(ups) != 1 {
			t.Fatalf("the written file is not in the container's upper: %v", ups)
		}
		r := runCmd(t, 30*time.Second, lamina, "rm", "--root", state, "--store", storeDir, "keep")
		if r.code != 0 {
			t.Fatalf("lamina rm: exit %d: %s", r.code, r.stderr)
		}
		if _, err := os.Stat(ups[0]); !os.IsNotExist(err) {
			t.Errorf("lamina rm left the upper: %v", err)
		}
	})
	t.Run("missing image", func(t *testing.T) {
		r := run(t, "--rm", host+"/lamina/nope:v1")
		if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "lamina:") {
			t.Errorf("want exit 1 and one error line, got exit %d: %q", r.code, r.stderr)
		}
	})
}
