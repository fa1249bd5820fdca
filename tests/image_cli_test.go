package tests

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestImageCLI drives pull, images, inspect and rmi end to end against an
// in-memory registry, and checks their failures are one clear line and
// exit status 1.
func TestImageCLI(t *testing.T) {
	lamina := buildLamina(t)
	host := startMemRegistry(t)
	ref := host + "/lamina/cli:v1"
	img := pushImage(t, ref, v1.Config{Cmd: []string{"/bin/sh", "-c", "echo hi"}, Env: []string{"PATH=/bin"}},
		mountImageLayers[0], mountImageLayers[1])
	wantDigest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	run := func(args ...string) cmdResult {
		t.Helper()
		r := runCmd(t, 30*time.Second, append([]string{lamina}, args...)...)
		if r.code != 0 || r.err != nil {
			t.Fatalf("lamina %s: exit %d (%v)\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.err, r.stdout, r.stderr)
		}
		return r
	}

	// pull: a line per layer event, then the digest and the ref.
	r := run("pull", "--root", root, ref)
	layerLine := regexp.MustCompile(`(?m)^[0-9a-f]{12}: (pull complete|downloading \d+/\d+ bytes|verified)$`)
	if n := len(regexp.MustCompile(`(?m)^[0-9a-f]{12}: pull complete$`).FindAllString(r.stdout, -1)); n != 2 {
		t.Errorf("first pull: %d \"pull complete\" lines, want 2:\n%s", n, r.stdout)
	}
	if !layerLine.MatchString(r.stdout) || !strings.Contains(r.stdout, "Digest: "+wantDigest.String()+"\n"+ref+"\n") {
		t.Errorf("first pull output:\n%s", r.stdout)
	}
	r = run("pull", "--root", root, ref)
	if n := len(regexp.MustCompile(`(?m)^[0-9a-f]{12}: already exists$`).FindAllString(r.stdout, -1)); n != 2 || strings.Contains(r.stdout, "downloading") {
		t.Errorf("second pull: want 2 \"already exists\" lines and no download:\n%s", r.stdout)
	}

	// images: a table and JSON.
	r = run("images", "--root", root)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "REF DIGEST SIZE" ||
		!strings.HasPrefix(lines[1], ref+" ") || !strings.Contains(lines[1], wantDigest.String()[:19]) {
		t.Errorf("images table:\n%s", r.stdout)
	}
	var rows []struct {
		Ref, Digest string
		Size        int64
	}
	r = run("images", "--root", root, "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("images --format json: %v\n%s", err, r.stdout)
	}
	if len(rows) != 1 || rows[0].Ref != ref || rows[0].Digest != wantDigest.String() || rows[0].Size <= 0 {
		t.Errorf("images json rows = %+v", rows)
	}

	// inspect: JSON with the manifest digest and the config.
	r = run("inspect", "--root", root, ref)
	var ins struct {
		Ref        string
		Descriptor struct{ Digest string }
		Manifest   struct{ Layers []struct{ Digest string } }
		Config     struct {
			Config struct{ Cmd, Env []string }
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &ins); err != nil {
		t.Fatalf("inspect: %v\n%s", err, r.stdout)
	}
	if ins.Ref != ref || ins.Descriptor.Digest != wantDigest.String() || len(ins.Manifest.Layers) != 2 ||
		len(ins.Config.RootFS.DiffIDs) != 2 || strings.Join(ins.Config.Config.Cmd, " ") != "/bin/sh -c echo hi" {
		t.Errorf("inspect = %+v", ins)
	}

	// rmi: untags, then GC leaves no blob and no layer directory.
	r = run("rmi", "--root", root, ref)
	if !strings.Contains(r.stdout, "Untagged: "+ref) {
		t.Errorf("rmi output:\n%s", r.stdout)
	}
	r = run("images", "--root", root, "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 0 {
		t.Errorf("images after rmi = %q (%v)", r.stdout, err)
	}
	for _, d := range []string{"layers", "blobs/sha256", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) != 0 {
			t.Errorf("%s after rmi has %d entries", d, len(ents))
		}
	}

	// Failures: one line on stderr, exit status 1, nothing stored.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"unknown tag", []string{"pull", "--root", root, host + "/lamina/cli:nope"}, "not found"},
		{"unknown repository", []string{"pull", "--root", root, host + "/lamina/nothere:v1"}, "not found"},
		{"registry down", []string{"pull", "--root", root, down + "/lamina/cli:v1"}, "registry unreachable: dial tcp " + down + ": connect: connection refused"},
		{"inspect unknown", []string{"inspect", "--root", root, "lamina/none:v1"}, "not found"},
		{"rmi unknown", []string{"rmi", "--root", root, "lamina/none:v1"}, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := runCmd(t, 40*time.Second, append([]string{lamina}, tc.args...)...)
			took := time.Since(start)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "lamina: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d (%v), stderr %q; want exit 1 and one line \"lamina: ...%s...\"", r.code, r.err, r.stderr, tc.want)
			}
			t.Logf("%s (%v)", lines[0], took.Round(time.Millisecond))
			if took > 20*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "blobs/sha256")); len(ents) != 0 {
		t.Errorf("failed pulls left %d blobs", len(ents))
	}
}
