package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci/registrytest"
)

// slowBody delivers at most 64 KiB per 20 ms (about 3 MB/s).
type slowBody struct{ io.ReadCloser }

func (s slowBody) Read(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	return s.ReadCloser.Read(p[:min(len(p), 64<<10)])
}

// throttledProxy serves registry through a reverse proxy that slows blob
// bodies down while *slow is true, so that a pull can be caught mid-download.
func throttledProxy(t *testing.T, registry string, slow *atomic.Bool) string {
	t.Helper()
	p := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: registry})
	p.ModifyResponse = func(r *http.Response) error {
		if slow.Load() && strings.Contains(r.Request.URL.Path, "/blobs/") {
			r.Body = slowBody{r.Body}
		}
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// randomFile is an image layer of one file of n random bytes.
func randomFile(name string, n int, seed uint64) imgEntry {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return fileE(name, 0o644, 0, 0, string(b))
}

// TestPullCrash kills `lamina pull` with SIGKILL in the middle of its
// download from a real registry, checks that the store shows nothing half
// done, then pulls again and checks the image is complete.
func TestPullCrash(t *testing.T) {
	watchdog(t, 3*time.Minute)
	reg := registrytest.Start(t)
	var slow atomic.Bool
	host := throttledProxy(t, reg, &slow)
	lamina := buildLamina(t)
	ref := host + "/lamina/crash:v1"
	files := []imgEntry{randomFile("a", 6<<20, 1), randomFile("b", 6<<20, 2), randomFile("c", 6<<20, 3)}
	img := pushImage(t, ref, v1.Config{Cmd: []string{"/a"}}, files[:1], files[1:2], files[2:])
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]imgEntry{} // layer dir name (diff_id hex) → its one file
	for i, d := range cf.RootFS.DiffIDs {
		want[d.Hex] = files[i]
	}
	root := t.TempDir()

	// Pull slowly; SIGKILL once some layer bytes have arrived.
	slow.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, lamina, "pull", "--root", root, ref)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	midway := regexp.MustCompile(`^[0-9a-f]{12}: downloading [1-9][0-9]*/[0-9]+ bytes$`)
	sc := bufio.NewScanner(stdout)
	var seen []string
	killed := false
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if midway.MatchString(sc.Text()) {
			killed = cmd.Process.Kill() == nil
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("lamina pull ended before it could be killed mid-download: %v\nstdout: %q\nstderr: %s", werr, seen, stderr.String())
	}
	t.Logf("killed after %q", seen[len(seen)-1])

	// The crash left its partial download in tmp/ (else this test shows
	// nothing), and nothing half done is visible.
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) == 0 {
		t.Errorf("no partial download in tmp/ after the kill")
	}
	if imgs := imagesJSON(t, lamina, root); len(imgs) != 0 {
		t.Errorf("images after the crash: %+v", imgs)
	}
	checkLayerDirs(t, root, want)
	checkBlobs(t, root)

	// Pull again at full speed: it completes and everything verifies.
	slow.Store(false)
	r := runCmd(t, time.Minute, lamina, "pull", "--root", root, ref)
	if r.code != 0 || r.err != nil {
		t.Fatalf("second pull: exit %d (%v)\nstdout: %s\nstderr: %s", r.code, r.err, r.stdout, r.stderr)
	}
	imgs := imagesJSON(t, lamina, root)
	if len(imgs) != 1 || imgs[0].Ref != ref {
		t.Fatalf("images after the second pull: %+v", imgs)
	}
	if n := checkLayerDirs(t, root, want); n != len(want) {
		t.Errorf("%d layer dirs after the second pull, want %d", n, len(want))
	}
	checkBlobs(t, root)
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("tmp/ still holds the crashed pull's files: %d entries", len(ents))
	}
}

type imageRow struct{ Ref, Digest string }

func imagesJSON(t *testing.T, lamina, root string) []imageRow {
	t.Helper()
	r := runCmd(t, 30*time.Second, lamina, "images", "--root", root, "--format", "json")
	if r.code != 0 || r.err != nil {
		t.Fatalf("lamina images: exit %d (%v): %s", r.code, r.err, r.stderr)
	}
	var rows []imageRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("lamina images: %v\n%s", err, r.stdout)
	}
	return rows
}

// checkLayerDirs verifies every layer directory in the store against the
// layer it must hold, and returns how many there are.
func checkLayerDirs(t *testing.T, root string, want map[string]imgEntry) int {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(root, "layers"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		f, ok := want[e.Name()]
		if !ok {
			t.Errorf("layers/%s: not a layer of the image", e.Name())
			continue
		}
		dir := filepath.Join(root, "layers", e.Name())
		names, _ := os.ReadDir(dir)
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil || string(b) != f.body || len(names) != 1 {
			t.Errorf("layers/%s: want exactly %s with its %d bytes, got %d entries, %d bytes (%v)", e.Name(), f.name, len(f.body), len(names), len(b), err)
		}
	}
	return len(ents)
}

// checkBlobs verifies that every stored blob hashes to its name.
func checkBlobs(t *testing.T, root string) {
	t.Helper()
	dir := filepath.Join(root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		sum := sha256.Sum256(b)
		if err != nil || hex.EncodeToString(sum[:]) != e.Name() {
			t.Errorf("blobs/sha256/%s: content does not match its name (%v)", e.Name(), err)
		}
	}
}
