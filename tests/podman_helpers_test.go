package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	mi "github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// podmanTimeout bounds every podman and buildah call.
const podmanTimeout = 60 * time.Second

// requirePodman skips t unless podman, buildah and runc can run here as
// root with FUSE, and busybox can make an image.
func requirePodman(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: rootful podman (rootless podman is not covered)")
	}
	requireFUSE(t)
	for _, p := range []string{"podman", "buildah", "runc", "conmon"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("needs %s (scripts/setup.sh installs podman and buildah): %v", p, err)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs /bin/busybox (busybox-static) for the test image")
	}
}

// podmanEnv is a private podman and buildah setup: storage.conf and
// containers.conf of its own, graphroot, runroot and podman's tmp_dir
// under t.TempDir(); the host's storage and /run/libpod are never used.
type podmanEnv struct {
	dir string
	env []string
}

// newPodmanEnv writes the configuration: the union subject as
// containers/storage's mount_program (with driver=fuse for lamina's
// unionmount, whose auto driver would pick kernel overlay as root), runc
// as the default runtime and lamina, when given, as the runtime "lamina".
// Cleanup removes every container and unmounts what is left.
func newPodmanEnv(t *testing.T, lamina string) *podmanEnv {
	t.Helper()
	dir := t.TempDir()
	// The container's root user (and a user namespace) must reach the
	// rootfs below the graph root.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	storage := fmt.Sprintf(`[storage]
driver = "overlay"
graphroot = %q
runroot = %q
[storage.options.overlay]
mount_program = %q
`, filepath.Join(dir, "graph"), filepath.Join(dir, "run"), subject)
	if !subjectIsFuseOverlayfs() {
		storage += fmt.Sprintf("mountopt = %q\n", "driver="+subjectDriver())
	}
	conf := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[network]
network_config_dir = %q
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
volume_path = %q
runtime = "runc"
`, filepath.Join(dir, "networks"), filepath.Join(dir, "events.log"), filepath.Join(dir, "tmp"), filepath.Join(dir, "volumes"))
	if lamina != "" {
		conf += fmt.Sprintf("[engine.runtimes]\nlamina = [%q]\n", lamina)
	}
	for name, body := range map[string]string{"storage.conf": storage, "containers.conf": conf} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := &podmanEnv{dir: dir, env: append(os.Environ(),
		"CONTAINERS_STORAGE_CONF="+filepath.Join(dir, "storage.conf"),
		"CONTAINERS_CONF="+filepath.Join(dir, "containers.conf"),
		"BUILDAH_ISOLATION=chroot",
	)}
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

// cleanup removes the containers (which unmounts their roots), then
// detaches whatever is still mounted below the directory.
func (e *podmanEnv) cleanup(t *testing.T) {
	e.run(t, "rm", "--all", "--force", "--time", "0")
	e.run(t, "buildah", "rm", "--all")
	mounts, err := mi.GetMounts(mi.PrefixFilter(e.dir))
	if err != nil {
		t.Errorf("read mountinfo: %v", err)
		return
	}
	for _, m := range mounts {
		if err := unix.Unmount(m.Mountpoint, unix.MNT_DETACH); err != nil {
			t.Logf("detach %s: %v", m.Mountpoint, err)
		}
	}
}

// run runs podman (or buildah, when argv starts with "buildah") and
// returns its result. It runs in the environment's directory: conmon
// writes a file "oom" into its working directory when a container is
// killed for memory.
func (e *podmanEnv) run(t *testing.T, argv ...string) cmdResult {
	t.Helper()
	if argv[0] != "buildah" {
		argv = append([]string{"podman"}, argv...)
	}
	return runCmdIn(t, podmanTimeout, e.dir, e.env, argv...)
}

// must runs argv and fails t unless it exits 0; it returns stdout.
func (e *podmanEnv) must(t *testing.T, argv ...string) string {
	t.Helper()
	r := e.run(t, argv...)
	if r.code != 0 || r.err != nil {
		t.Fatalf("%s: exit %d (%v)\nstdout: %s\nstderr: %s", strings.Join(argv, " "), r.code, r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// importBase imports a busybox image as ref: /bin with busybox and its
// applets, /etc/victim and /etc/keep (one line each), /tmp, and the mount
// points.
func (e *podmanEnv) importBase(t *testing.T, ref string) {
	t.Helper()
	rootfs := filepath.Join(e.dir, "base-rootfs")
	mustMkdirAll(t, filepath.Join(rootfs, "bin"), filepath.Join(rootfs, "etc"), filepath.Join(rootfs, "tmp"),
		filepath.Join(rootfs, "proc"), filepath.Join(rootfs, "sys"), filepath.Join(rootfs, "dev"))
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"etc/victim": "victim\n", "etc/keep": "keep\n",
		"etc/passwd": "root:x:0:0:root:/:/bin/sh\n", "etc/group": "root:x:0:\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "cat", "echo", "ls", "rm", "mkdir", "sleep", "test", "grep", "head", "tail", "id", "tty", "true", "touch", "stat", "wc", "tr", "hostname"} {
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}
	tarball := filepath.Join(e.dir, "base.tar")
	if r := runCmd(t, podmanTimeout, "tar", "-C", rootfs, "-cf", tarball, "."); r.code != 0 {
		t.Fatalf("tar: %v\n%s", r.err, r.stderr)
	}
	e.must(t, "import", tarball, ref)
}

// containerIDs matches the 64-hex container ids that differ between runs.
var containerIDs = regexp.MustCompile(`[0-9a-f]{64}`)

// normalize replaces container ids and the given names by placeholders.
func normalize(s string, names ...string) string {
	s = containerIDs.ReplaceAllString(s, "ID")
	for _, n := range names {
		s = strings.ReplaceAll(s, n, "NAME")
	}
	return s
}

// waitFor polls cond every 100 ms for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
