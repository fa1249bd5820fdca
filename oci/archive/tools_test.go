package archive

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/whiteout"
	"golang.org/x/sys/unix"
)

// tool runs a real tool, skipping the test when it is not installed.
func tool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s is not installed (apt-get install %s)", name, name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

func skopeo(t *testing.T, args ...string) []byte {
	return tool(t, "skopeo", append([]string{"--insecure-policy"}, args...)...)
}

// TestLoadSkopeoCopies loads an image that skopeo copied from an OCI layout
// built in code into each of its formats.
func TestLoadSkopeoCopies(t *testing.T) {
	img := testImage(t, true)
	const ref = "localhost/skopeo/demo:v1"
	src := "oci:" + makeLayout(t, []v1.Image{img}, []string{ref}) + ":" + ref
	for _, tc := range []struct {
		name string
		dest func(path string) string
	}{
		{"oci", func(p string) string { return "oci:" + p + ":" + ref }},
		{"oci-archive", func(p string) string { return "oci-archive:" + p + ":" + ref }},
		{"docker-archive", func(p string) string { return "docker-archive:" + p + ":" + ref }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "copy")
			skopeo(t, "copy", src, tc.dest(p))
			st := newStore(t)
			if _, err := Load(ctxT(t), st, p); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if g, w := diffIDs(t, st, ref), imgDiffIDs(t, img); !slices.Equal(g, w) {
				t.Errorf("diff_ids %v, want %v", g, w)
			}
		})
	}
}

// TestSaveReadBySkopeo saves images and has skopeo read them, then copies
// the saved layout into a docker archive with skopeo and loads that back.
func TestSaveReadBySkopeo(t *testing.T) {
	const ref = "localhost:5000/save:v1"
	st, img, _ := loadedStore(t, ref, "localhost:5000/save2:v1")
	norm, _ := store.NormalizeRef(ref)
	for _, f := range []Format{FormatOCI, FormatOCIArchive, FormatDockerArchive} {
		t.Run(string(f), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "saved")
			if err := Save(ctxT(t), st, []string{ref}, f, out); err != nil {
				t.Fatal(err)
			}
			var insp struct {
				Digest string
				Layers []string
			}
			b := skopeo(t, "inspect", string(f)+":"+out+":"+norm)
			if err := json.Unmarshal(b, &insp); err != nil {
				t.Fatalf("skopeo inspect output: %v\n%s", err, b)
			}
			if len(insp.Layers) != 2 {
				t.Errorf("skopeo sees layers %v, want 2", insp.Layers)
			}
			if f != FormatDockerArchive && insp.Digest != digestOf(t, img) {
				t.Errorf("skopeo sees digest %s, want %s", insp.Digest, digestOf(t, img))
			}
			copied := filepath.Join(t.TempDir(), "copied.tar")
			skopeo(t, "copy", string(f)+":"+out+":"+norm, "docker-archive:"+copied+":"+norm)
			st2 := newStore(t)
			if _, err := Load(ctxT(t), st2, copied); err != nil {
				t.Fatalf("Load of skopeo's copy: %v", err)
			}
			if g, w := diffIDs(t, st2, ref), imgDiffIDs(t, img); !slices.Equal(g, w) {
				t.Errorf("diff_ids %v, want %v", g, w)
			}
		})
	}
}

// TestSaveReadByUmoci has umoci unpack a saved layout.
func TestSaveReadByUmoci(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("umoci unpack keeps owners only as root; this test runs as root")
	}
	st, _, _ := loadedStore(t, "localhost:5000/umoci:v1", "localhost:5000/umoci2:v1")
	out := filepath.Join(t.TempDir(), "saved")
	if err := Save(ctxT(t), st, []string{"localhost:5000/umoci:v1"}, FormatOCI, out); err != nil {
		t.Fatal(err)
	}
	// umoci tags cannot hold "/" or ":"; name the image with a plain tag.
	idx := filepath.Join(out, "index.json")
	b, _ := os.ReadFile(idx)
	var m map[string]any
	json.Unmarshal(b, &m)
	m["manifests"].([]any)[0].(map[string]any)["annotations"] = map[string]string{"org.opencontainers.image.ref.name": "v1"}
	b, _ = json.Marshal(m)
	os.WriteFile(idx, b, 0o644)
	bundle := filepath.Join(t.TempDir(), "bundle")
	tool(t, "umoci", "unpack", "--image", out+":v1", bundle)
	if got, err := os.ReadFile(filepath.Join(bundle, "rootfs/etc/motd")); err != nil || string(got) != "hello\n" {
		t.Errorf("umoci unpacked etc/motd = %q, %v", got, err)
	}
	if _, err := os.Lstat(filepath.Join(bundle, "rootfs/gone")); !os.IsNotExist(err) {
		t.Errorf("umoci unpacked the whited-out gone: %v", err)
	}
}

// TestLoadUmociImage loads an image umoci built: files, a whiteout and an
// opaque directory, each in its own layer.
func TestLoadUmociImage(t *testing.T) {
	dir := t.TempDir()
	lay := filepath.Join(dir, "layout")
	tool(t, "umoci", "init", "--layout", lay)
	tool(t, "umoci", "new", "--image", lay+":v1")
	src := filepath.Join(dir, "src")
	for p, c := range map[string]string{"etc/keep": "k", "etc/gone": "g", "opt/a": "a", "opt/b": "b", "opt2/c": "c"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(src, p), []byte(c), 0o644)
	}
	tool(t, "umoci", "insert", "--image", lay+":v1", filepath.Join(src, "etc"), "/etc")
	tool(t, "umoci", "insert", "--image", lay+":v1", filepath.Join(src, "opt"), "/opt")
	tool(t, "umoci", "insert", "--image", lay+":v1", "--whiteout", "/etc/gone")
	tool(t, "umoci", "insert", "--image", lay+":v1", "--opaque", filepath.Join(src, "opt2"), "/opt")

	st := newStore(t)
	// umoci's ref.name "v1" is a bare tag, not a name: --tag is needed.
	if _, err := Load(ctxT(t), st, lay); !errors.Is(err, ErrNoName) {
		t.Fatalf("Load without --tag: %v, want ErrNoName", err)
	}
	loaded, err := Load(ctxT(t), st, lay, WithTag("localhost/umoci/built:v1"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := st.Resolve("localhost/umoci/built:v1"); err != nil {
		t.Errorf("resolve localhost/umoci/built:v1: %v (loaded %+v)", err, loaded)
	}
	if imgs, _ := st.Images(); len(imgs) != 1 {
		t.Errorf("store refs %v, want only the --tag one", imgs)
	}
	dirs, _, err := st.LayerDirs(loaded[0].Descriptor.Digest)
	if err != nil || len(dirs) != 4 {
		t.Fatalf("layer dirs %v, %v; want 4", dirs, err)
	}
	// dirs[0] is the top layer (opaque /opt), dirs[1] the whiteout.
	var stt unix.Stat_t
	if s, err := whiteout.Lookup(filepath.Join(dirs[1], "etc"), "gone", false, &stt); err != nil || s != whiteout.WhitedOut {
		t.Errorf("etc/gone in the whiteout layer: %v, %v; want %v", s, err, whiteout.WhitedOut)
	}
	if info, err := whiteout.Inspect(filepath.Join(dirs[0], "opt")); err != nil || !info.Opaque {
		t.Errorf("opt in the top layer: %+v, %v; want opaque", info, err)
	}
	if b, err := os.ReadFile(filepath.Join(dirs[0], "opt/c")); err != nil || string(b) != "c" {
		t.Errorf("top layer opt/c = %q, %v", b, err)
	}
}
