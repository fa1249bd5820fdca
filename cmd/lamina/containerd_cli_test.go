package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestContainerdShim drives lamina through containerd's runc shim
// (containerd-shim-runc-v2 with lamina as its runc binary), as a container
// engine does: a private containerd (its own root, state and socket in a
// temporary directory, its own namespace), a busybox image built here,
// loaded into lamina's store and saved by lamina as the OCI archive
// containerd imports, then ctr run --rm with an exit code, a
// detached task with exec, pause and resume, kill and delete. -t needs a
// terminal on ctr's side and is not covered here.
func TestContainerdShim(t *testing.T) {
	requireRootBusybox(t)
	for _, b := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Skipf("needs %s (Debian package containerd)", b)
		}
	}
	dir := t.TempDir()
	// The shim runs "lamina" through this wrapper: the test binary is
	// the CLI with LAMINA_TEST_MAIN=1.
	wrapper := filepath.Join(dir, "lamina")
	script := fmt.Sprintf("#!/bin/sh\nLAMINA_TEST_MAIN=1 exec %q \"$@\"\n", os.Args[0])
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	sock := startContainerd(t, dir)
	ns := fmt.Sprintf("lamina-test-%d", os.Getpid())
	ctr := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c := exec.CommandContext(ctx, "ctr", append([]string{"-a", sock, "-n", ns}, args...)...)
		c.WaitDelay = time.Second
		out, err := c.CombinedOutput()
		return string(out), err
	}
	// The image goes through lamina's store: loaded from the archive
	// built here, then saved again by lamina for containerd to import.
	archive, saved, store := filepath.Join(dir, "bb.tar"), filepath.Join(dir, "saved.tar"), filepath.Join(dir, "store")
	writeBusyboxOCIArchive(t, archive)
	for _, args := range [][]string{
		{"load", "--root", store, "-i", archive, "--tag", "lamina.test/bb:latest"},
		{"save", "--root", store, "--format", "oci-archive", "-o", saved, "lamina.test/bb:latest"},
	} {
		if out, err := exec.Command(wrapper, args...).CombinedOutput(); err != nil {
			t.Fatalf("lamina %s: %v\n%s", args[0], err, out)
		}
	}
	if out, err := ctr("images", "import", "--base-name", "lamina.test/bb", saved); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	image := "lamina.test/bb:latest"

	out, err := ctr("run", "--rm", "--runc-binary", wrapper, image, "run1", "sh", "-c", "echo hello; exit 7")
	if exitCode(err) != 7 || !strings.Contains(out, "hello") {
		t.Fatalf("run --rm: %v, want exit 7; output:\n%s", err, out)
	}

	if out, err := ctr("run", "-d", "--runc-binary", wrapper, image, "task1", "sleep", "300"); err != nil {
		t.Fatalf("run -d: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		ctr("task", "kill", "-s", "KILL", "task1")
		ctr("task", "delete", "task1")
		ctr("container", "delete", "task1")
	})
	// The pause before the exit: ctr attaches to the exec's output fifos
	// while the process runs, and once lost the output of a process that
	// exited at once (seen once under load, not reproduced with runc or
	// lamina in 80 tries).
	if out, err := ctr("task", "exec", "--exec-id", "e1", "task1", "sh", "-c", "echo in-exec; sleep 0.3; exit 5"); exitCode(err) != 5 || !strings.Contains(out, "in-exec") {
		t.Errorf("task exec: %v, want exit 5; output:\n%s", err, out)
	}
	for _, step := range []struct{ cmd, want string }{
		{"pause", "PAUSED"}, {"resume", "RUNNING"}, {"pause", "PAUSED"},
	} {
		if out, err := ctr("task", step.cmd, "task1"); err != nil {
			t.Fatalf("task %s: %v\n%s", step.cmd, err, out)
		}
		if out, _ := ctr("task", "ls"); !strings.Contains(out, step.want) {
			t.Fatalf("after %s: want %s in\n%s", step.cmd, step.want, out)
		}
	}
	// SIGKILL of a paused task: lamina thaws it, as runc, so it stops.
	if out, err := ctr("task", "kill", "-s", "KILL", "task1"); err != nil {
		t.Fatalf("task kill: %v\n%s", err, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := ctr("task", "ls")
		if strings.Contains(out, "STOPPED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task not stopped after kill:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := ctr("task", "delete", "task1"); err != nil {
		t.Fatalf("task delete: %v\n%s", err, out)
	}
	if out, err := ctr("container", "delete", "task1"); err != nil {
		t.Fatalf("container delete: %v\n%s", err, out)
	}
	// The shim's runc root (--root of every lamina call) for this namespace.
	if ents, err := os.ReadDir(filepath.Join("/run/containerd/runc", ns)); err != nil && !os.IsNotExist(err) {
		t.Errorf("read the shim's runtime root: %v", err)
	} else if len(ents) != 0 {
		t.Errorf("lamina state left behind: %v", ents)
	}
}

// startContainerd starts a containerd with everything under dir and
// returns its socket; t.Cleanup stops it.
func startContainerd(t *testing.T, dir string) string {
	t.Helper()
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc")
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("containerd", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		// The shim's runc root for the namespace, and the v1 cgroups
		// made for it.
		os.Remove(filepath.Join("/run/containerd/runc", fmt.Sprintf("lamina-test-%d", os.Getpid())))
		for _, d := range []string{"memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer", "systemd", "unified"} {
			os.Remove(filepath.Join("/sys/fs/cgroup", d, fmt.Sprintf("lamina-test-%d", os.Getpid())))
		}
	})
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			return sock
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logf.Name())
			t.Fatalf("containerd did not listen on %s:\n%s", sock, log)
		}
	}
}

// writeBusyboxOCIArchive writes an OCI image layout as a tar (what "ctr
// images import" reads): one uncompressed layer with /bin/busybox and its
// sh, sleep and echo links, a config and a manifest tagged "latest".
func writeBusyboxOCIArchive(t *testing.T, path string) {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	entries := []struct {
		h    tar.Header
		data []byte
	}{
		{tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777}, nil},
		{tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))}, bb},
	}
	for _, a := range []string{"sh", "sleep", "echo"} {
		entries = append(entries, struct {
			h    tar.Header
			data []byte
		}{tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}, nil})
	}
	for _, e := range entries {
		if err := tw.WriteHeader(&e.h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	tw.Close()
	blobs := map[string][]byte{}
	desc := func(mediaType string, b []byte) map[string]any {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		blobs[d] = b
		return map[string]any{"mediaType": mediaType, "digest": d, "size": len(b)}
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	layerDesc := desc("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	config := mustJSON(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": []string{"sh"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc["digest"].(string)}},
	})
	manifest := mustJSON(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": desc("application/vnd.oci.image.config.v1+json", config),
		"layers": []any{layerDesc},
	})
	md := desc("application/vnd.oci.image.manifest.v1+json", manifest)
	md["annotations"] = map[string]string{"org.opencontainers.image.ref.name": "latest"}
	index := mustJSON(map[string]any{"schemaVersion": 2, "manifests": []any{md}})

	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	aw := tar.NewWriter(f)
	add := func(name string, b []byte) {
		if err := aw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))}); err != nil {
			t.Fatal(err)
		}
		aw.Write(b)
	}
	add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	add("index.json", index)
	for d, b := range blobs {
		add("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
}
