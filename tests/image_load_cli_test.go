package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// TestLoadSaveCLI drives "lamina save" and "lamina load" end to end: a
// pulled image saved in each format and loaded into a fresh store, progress
// and result lines, and failures as one clear line with exit status 1 and
// nothing stored.
func TestLoadSaveCLI(t *testing.T) {
	watchdog(t, 3*time.Minute)
	lamina := buildLamina(t)
	host := startMemRegistry(t)
	ref := host + "/lamina/loadcli:v1"
	img := pushImage(t, ref, v1.Config{Cmd: []string{"/bin/sh"}}, mountImageLayers[0], mountImageLayers[1])
	wantDigest, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) cmdResult {
		t.Helper()
		r := runCmd(t, 60*time.Second, append([]string{lamina}, args...)...)
		if r.code != 0 || r.err != nil {
			t.Fatalf("lamina %s: exit %d (%v)\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.err, r.stdout, r.stderr)
		}
		return r
	}
	src := t.TempDir()
	run("pull", "--root", src, ref)

	complete := regexp.MustCompile(`(?m)^[0-9a-f]{12}: pull complete$`)
	exists := regexp.MustCompile(`(?m)^[0-9a-f]{12}: already exists$`)
	for _, format := range []string{"oci", "oci-archive", "docker-archive"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "saved")
			run("save", "--root", src, "--format", format, "-o", out, ref)
			root := t.TempDir()
			r := run("load", "--root", root, "-i", out)
			if n := len(complete.FindAllString(r.stdout, -1)); n != 2 {
				t.Errorf("load: %d \"pull complete\" lines, want 2:\n%s", n, r.stdout)
			}
			loaded := regexp.MustCompile(`(?m)^Loaded image: ` + regexp.QuoteMeta(ref) + ` \((sha256:[0-9a-f]{64})\)$`).FindStringSubmatch(r.stdout)
			if loaded == nil {
				t.Fatalf("load output has no \"Loaded image: %s (digest)\" line:\n%s", ref, r.stdout)
			}
			if format != "docker-archive" && loaded[1] != wantDigest.String() {
				t.Errorf("loaded digest %s, want the pulled %s", loaded[1], wantDigest)
			}
			r = run("load", "--root", root, "-i", out)
			if n := len(exists.FindAllString(r.stdout, -1)); n != 2 {
				t.Errorf("second load: %d \"already exists\" lines, want 2:\n%s", n, r.stdout)
			}
			r = run("images", "--root", root)
			if !strings.Contains(r.stdout, "\n"+ref+" ") {
				t.Errorf("images after load:\n%s", r.stdout)
			}
		})
	}

	notArchive := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notArchive, []byte("just some text\n"), 0o644)
	existing := t.TempDir()
	root := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error line
	}{
		{"load a text file", []string{"load", "--root", root, "-i", notArchive}, "not an image archive"},
		{"load a missing file", []string{"load", "--root", root, "-i", filepath.Join(existing, "nope.tar")}, "no such file or directory"},
		{"load with a bad tag", []string{"load", "--root", root, "-i", notArchive, "--tag", "Bad:Tag:x"}, "--tag: parse reference"},
		{"load with a bad platform", []string{"load", "--root", root, "-i", notArchive, "--platform", "a/b/c/d"}, "--platform"},
		{"save unknown", []string{"save", "--root", src, "-o", filepath.Join(existing, "o"), "lamina/none:v1"}, "not found"},
		{"save over a path", []string{"save", "--root", src, "-o", existing, ref}, "exists"},
		{"save without -o", []string{"save", "--root", src, ref}, "-o/--output is required"},
		{"save a bad format", []string{"save", "--root", src, "--format", "zip", "-o", filepath.Join(existing, "o"), ref}, "--format"},
		{"save oci to stdout", []string{"save", "--root", src, "-o", "-", ref}, "oci-archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, 40*time.Second, append([]string{lamina}, tc.args...)...)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if r.code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], "lamina: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("exit %d (%v), stderr %q; want exit 1 and one line \"lamina: ...%s...\"", r.code, r.err, r.stderr, tc.want)
			}
			t.Logf("%s", lines[0])
		})
	}
	for _, d := range []string{"layers", "blobs/sha256"} {
		if ents, _ := os.ReadDir(filepath.Join(root, d)); len(ents) != 0 {
			t.Errorf("failed loads left %d entries in %s", len(ents), d)
		}
	}
}
