package tests

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/whiteout"
	"golang.org/x/sys/unix"
)

// TestPodmanUnionmount: unionmount as containers/storage's mount_program.
// buildah builds a second layer that deletes /etc/victim (a whiteout), a
// podman container (runc) sees it gone with / on the union, its writes and
// deletes land in its upper directory, and podman diff and podman commit
// report and package them.
func TestPodmanUnionmount(t *testing.T) {
	requirePodman(t)
	watchdog(t, 3*time.Minute)
	e := newPodmanEnv(t, "")
	e.importBase(t, "localhost/lamina-base:test")

	ctr := strings.TrimSpace(e.must(t, "buildah", "from", "--pull-never", "localhost/lamina-base:test"))
	e.must(t, "buildah", "run", "--isolation", "chroot", ctr, "--", "rm", "/etc/victim")
	e.must(t, "buildah", "commit", "--quiet", ctr, "localhost/lamina-del:test")
	e.must(t, "buildah", "rm", ctr)
	if top := topLayer(t, e, "localhost/lamina-del:test"); top["etc/"+whiteout.WhiteoutName("victim")] == "" {
		t.Errorf("buildah's layer has no whiteout for etc/victim: %v", top)
	}

	name := fmt.Sprintf("union-%d", os.Getpid())
	out := e.must(t, "run", "--name", name, "--network", "none", "localhost/lamina-del:test", "sh", "-c",
		`test -e /etc/victim && echo victim-present; cat /etc/keep; grep " / / " /proc/self/mountinfo
echo data >/newfile && rm /etc/keep && mkdir /newdir && echo written`)
	if strings.Contains(out, "victim-present") || !strings.Contains(out, "keep\n") || !strings.Contains(out, "written") {
		t.Errorf("container view is wrong:\n%s", out)
	}
	wantFS := " - fuse.lamina "
	if subjectIsFuseOverlayfs() {
		wantFS = " - fuse.fuse-overlayfs "
	}
	if !strings.Contains(out, wantFS) {
		t.Errorf("/ is not the union (%q):\n%s", wantFS, out)
	}

	upper := strings.TrimSpace(e.must(t, "inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", name))
	if b, err := os.ReadFile(filepath.Join(upper, "newfile")); err != nil || string(b) != "data\n" {
		t.Errorf("upper %s/newfile: %q, %v", upper, b, err)
	}
	var st unix.Stat_t
	if s, err := whiteout.Lookup(filepath.Join(upper, "etc"), "keep", false, &st); err != nil || s != whiteout.WhitedOut {
		t.Errorf("upper etc/keep: %v, %v; want a whiteout", s, err)
	}

	diff := e.must(t, "diff", name)
	for _, want := range []string{"A /newfile", "D /etc/keep", "A /newdir"} {
		if !containsLine(diff, want) {
			t.Errorf("podman diff lacks %q:\n%s", want, diff)
		}
	}
	if containsLine(diff, "D /etc/victim") {
		t.Errorf("podman diff reports the image's own deletion:\n%s", diff)
	}

	e.must(t, "commit", "--quiet", name, "localhost/lamina-commit:test")
	top := topLayer(t, e, "localhost/lamina-commit:test")
	if top["newfile"] != "data\n" || top["newdir/"] == "" || top["etc/"+whiteout.WhiteoutName("keep")] == "" {
		t.Errorf("committed layer is wrong: %v", top)
	}
	for n := range top {
		if strings.Contains(n, "victim") {
			t.Errorf("committed layer repeats the lower layer's whiteout %s", n)
		}
	}
	out = e.must(t, "run", "--rm", "--network", "none", "localhost/lamina-commit:test", "sh", "-c",
		`cat /newfile; test -e /etc/keep || echo keep-gone; test -e /etc/victim || echo victim-gone; test -d /newdir && echo newdir`)
	if out != "data\nkeep-gone\nvictim-gone\nnewdir\n" {
		t.Errorf("committed image shows:\n%s", out)
	}
}

// topLayer saves ref as an OCI layout and returns its top layer's entries:
// regular files with their content, directories (ending in /) and other
// entries with their type flag.
func topLayer(t *testing.T, e *podmanEnv, ref string) map[string]string {
	t.Helper()
	dir := filepath.Join(e.dir, "save-"+strings.NewReplacer("/", "_", ":", "_").Replace(ref))
	e.must(t, "save", "--format", "oci-dir", "--output", dir, ref)
	blob := func(digest string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", strings.Replace(digest, ":", "/", 1)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var index, manifest struct {
		Manifests []struct{ Digest string }
		Layers    []struct{ Digest string }
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil || len(index.Manifests) == 0 {
		t.Fatalf("index.json: %v: %s", err, b)
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil || len(manifest.Layers) == 0 {
		t.Fatalf("manifest: %v", err)
	}
	var r io.Reader = bytes.NewReader(blob(manifest.Layers[len(manifest.Layers)-1].Digest))
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	} else {
		r = br
	}
	entries := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read layer of %s: %v", ref, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		switch h.Typeflag {
		case tar.TypeReg:
			c, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			entries[name] = string(c)
			if len(c) == 0 {
				entries[name] = "(empty)"
			}
		case tar.TypeDir:
			entries[strings.TrimSuffix(name, "/")+"/"] = "dir"
		default:
			entries[name] = fmt.Sprintf("type %c", h.Typeflag)
		}
	}
	return entries
}

func containsLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
