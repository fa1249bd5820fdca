package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/store"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestLoadFormats loads the same image from every input form and checks
// the ref, the layers and the unpacked content.
func TestLoadFormats(t *testing.T) {
	img := testImage(t, true)
	dimg := testImage(t, false)
	const ref = "localhost:5000/demo:v1"
	gz := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		z := gzip.NewWriter(&buf)
		z.Write(b)
		z.Close()
		out := path + ".gz"
		os.WriteFile(out, buf.Bytes(), 0o644)
		return out
	}
	for _, tc := range []struct {
		name      string
		input     func(t *testing.T) string
		img       v1.Image
		stdin     bool
		sameDigst bool // the stored manifest is the archive's own
	}{
		{"oci layout dir", func(t *testing.T) string { return makeLayout(t, []v1.Image{img}, []string{ref}) }, img, false, true},
		{"oci-archive", func(t *testing.T) string { return tarDir(t, makeLayout(t, []v1.Image{img}, []string{ref})) }, img, false, true},
		{"oci-archive gzip", func(t *testing.T) string { return gz(tarDir(t, makeLayout(t, []v1.Image{img}, []string{ref}))) }, img, false, true},
		{"oci-archive stdin", func(t *testing.T) string { return tarDir(t, makeLayout(t, []v1.Image{img}, []string{ref})) }, img, true, true},
		{"docker save gzip layers", func(t *testing.T) string { return writeDockerSave(t, map[string]v1.Image{ref: dimg}) }, dimg, false, false},
		{"docker save stdin", func(t *testing.T) string { return writeDockerSave(t, map[string]v1.Image{ref: dimg}) }, dimg, true, false},
		{"docker save old layout", func(t *testing.T) string { return oldDockerSave(t, dimg, ref) }, dimg, false, false},
		{"docker 25 layout plus manifest.json", func(t *testing.T) string { return docker25Save(t, img, ref) }, img, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			in := tc.input(t)
			path := in
			var opts []Option
			if tc.stdin {
				f, err := os.Open(in)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				path = "-"
				opts = append(opts, WithStdin(f))
			}
			var mu sync.Mutex
			var events []oci.Progress
			opts = append(opts, WithProgress(func(p oci.Progress) { mu.Lock(); events = append(events, p); mu.Unlock() }))
			got, err := Load(ctxT(t), st, path, opts...)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			norm, _ := store.NormalizeRef(ref)
			if len(got) != 1 || !slices.Equal(got[0].Refs, []string{norm}) || got[0].Fetched != 2 {
				t.Fatalf("Load = %+v; want one image %s with 2 layers fetched", got, norm)
			}
			if tc.sameDigst && got[0].Descriptor.Digest.String() != digestOf(t, tc.img) {
				t.Errorf("manifest digest %s, want the archive's %s", got[0].Descriptor.Digest, digestOf(t, tc.img))
			}
			if g, w := diffIDs(t, st, ref), imgDiffIDs(t, tc.img); !slices.Equal(g, w) {
				t.Errorf("diff_ids %v, want %v", g, w)
			}
			im, _ := st.Resolve(ref)
			dirs, _, _ := st.LayerDirs(im.Descriptor.Digest)
			if b, err := os.ReadFile(filepath.Join(dirs[0], "etc/motd")); err != nil || string(b) != "hello\n" {
				t.Errorf("top layer etc/motd = %q, %v", b, err)
			}
			if n := countStatus(events, oci.StatusDone); n != 2 {
				t.Errorf("%d %q events, want 2", n, oci.StatusDone)
			}
			// Loading again reads nothing: every layer already exists.
			var again []oci.Progress
			if _, err := Load(ctxT(t), st, in, WithProgress(func(p oci.Progress) { mu.Lock(); again = append(again, p); mu.Unlock() })); err != nil {
				t.Fatalf("Load again: %v", err)
			}
			if n := countStatus(again, oci.StatusExists); n != 2 {
				t.Errorf("second load: %d %q events, want 2", n, oci.StatusExists)
			}
		})
	}
}

func countStatus(evs []oci.Progress, s oci.Status) (n int) {
	for _, e := range evs {
		if e.Status == s {
			n++
		}
	}
	return n
}

// oldDockerSave writes img the way docker before 25 did: <id>/layer.tar
// (uncompressed, named by an id that is not a digest), <hex>.json config,
// manifest.json.
func oldDockerSave(t *testing.T, img v1.Image, ref string) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cd, _ := img.ConfigName()
	os.WriteFile(filepath.Join(dir, cd.Hex+".json"), cfg, 0o644)
	ls, _ := img.Layers()
	var names []string
	for i, l := range ls {
		id := filepath.Join(dir, string(rune('a'+i))+"0000layerid")
		os.MkdirAll(id, 0o755)
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		os.WriteFile(filepath.Join(id, "layer.tar"), buf.Bytes(), 0o644)
		names = append(names, filepath.Base(id)+"/layer.tar")
	}
	m, _ := json.Marshal([]dockerEntry{{Config: cd.Hex + ".json", RepoTags: []string{ref}, Layers: names}})
	os.WriteFile(filepath.Join(dir, "manifest.json"), m, 0o644)
	return tarDir(t, dir)
}

// docker25Save writes img as docker 25+ does: an OCI layout whose index.json
// entry has no full name, plus a manifest.json naming layout blobs.
func docker25Save(t *testing.T, img v1.Image, ref string) string {
	t.Helper()
	dir := makeLayout(t, []v1.Image{img}, []string{"v1"})
	// "v1" alone is a bare tag, no name; docker 25 also writes
	// io.containerd.image.name, which names the image. Here we drop both
	// so that the name must come from manifest.json.
	idxPath := filepath.Join(dir, "index.json")
	b, _ := os.ReadFile(idxPath)
	var idx map[string]any
	json.Unmarshal(b, &idx)
	for _, m := range idx["manifests"].([]any) {
		delete(m.(map[string]any), "annotations")
	}
	b, _ = json.Marshal(idx)
	os.WriteFile(idxPath, b, 0o644)
	cd, _ := img.ConfigName()
	m, _ := img.Manifest()
	var layers []string
	for _, l := range m.Layers {
		layers = append(layers, "blobs/sha256/"+l.Digest.Hex)
	}
	mj, _ := json.Marshal([]dockerEntry{{Config: "blobs/sha256/" + cd.Hex, RepoTags: []string{ref}, Layers: layers}})
	os.WriteFile(filepath.Join(dir, "manifest.json"), mj, 0o644)
	return tarDir(t, dir)
}

// TestLoadNames covers refs: OCI ref.name normalisation, --tag, and images
// without a name.
func TestLoadNames(t *testing.T) {
	img := testImage(t, true)
	img2 := testImage(t, true, tarOf(t, "only/", "", "only/file", "x"))
	for _, tc := range []struct {
		name    string
		imgs    []v1.Image
		refs    []string
		tag     string
		want    []string // refs expected in the store
		wantErr error
	}{
		{"repository without tag normalised like docker", []v1.Image{img}, []string{"example.com/busybox"}, "", []string{"example.com/busybox:latest"}, nil},
		{"short name with tag normalised like docker", []v1.Image{img}, []string{"busybox:1.36"}, "", []string{"index.docker.io/library/busybox:1.36"}, nil},
		{"bare tag is no name", []v1.Image{img}, []string{"v1"}, "", nil, ErrNoName},
		{"bare tag with --tag", []v1.Image{img}, []string{"latest"}, "demo:v1", []string{"index.docker.io/library/demo:v1"}, nil},
		{"unnamed needs --tag", []v1.Image{img}, nil, "", nil, ErrNoName},
		{"unnamed with --tag", []v1.Image{img}, nil, "demo:v2", []string{"index.docker.io/library/demo:v2"}, nil},
		{"--tag adds to a named image", []v1.Image{img}, []string{"a:1"}, "b:2", []string{"index.docker.io/library/a:1", "index.docker.io/library/b:2"}, nil},
		{"--tag with two images", []v1.Image{img, img2}, []string{"a:1", "b:1"}, "c:1", nil, ErrNoName},
		{"two named images", []v1.Image{img, img2}, []string{"a:1", "b:1"}, "", []string{"index.docker.io/library/a:1", "index.docker.io/library/b:1"}, nil},
		{"one unnamed of two", []v1.Image{img, img2}, []string{"a:1", ""}, "", nil, ErrNoName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			_, err := Load(ctxT(t), st, makeLayout(t, tc.imgs, tc.refs), WithTag(tc.tag))
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Load = %v, want %v", err, tc.wantErr)
				}
				storeIsEmpty(t, st)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			imgs, _ := st.Images()
			var got []string
			for _, im := range imgs {
				got = append(got, im.Ref)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("store refs %v, want %v", got, tc.want)
			}
		})
	}
}

// TestLoadPlatformIndex loads a layout whose entry is a two-platform index.
func TestLoadPlatformIndex(t *testing.T) {
	host := testImage(t, true)
	other := testImage(t, true, tarOf(t, "other/", "", "other/f", "arch"))
	otherArch := "arm64"
	if runtime.GOARCH == "arm64" {
		otherArch = "amd64"
	}
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: host, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: otherArch}}},
	)
	dir := makeLayout(t, nil, nil)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{ispec.AnnotationRefName: "multi:v1"})); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		platform *v1.Platform
		want     v1.Image
		wantErr  error
	}{
		{"host by default", nil, host, nil},
		{"--platform", &v1.Platform{OS: "linux", Architecture: otherArch}, other, nil},
		{"absent platform", &v1.Platform{OS: "windows", Architecture: "amd64"}, nil, oci.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			var opts []Option
			if tc.platform != nil {
				opts = append(opts, WithPlatform(*tc.platform))
			}
			got, err := Load(ctxT(t), st, dir, opts...)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Load = %v, want %v", err, tc.wantErr)
				}
				storeIsEmpty(t, st)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got[0].Descriptor.Digest.String() != digestOf(t, tc.want) || got[0].Descriptor.Platform == nil {
				t.Errorf("loaded %s (platform %v), want %s", got[0].Descriptor.Digest, got[0].Descriptor.Platform, digestOf(t, tc.want))
			}
		})
	}
}

// TestLoadPlatformEntries loads a layout that lists one image per platform
// under one name, as some tools write it.
func TestLoadPlatformEntries(t *testing.T) {
	host := testImage(t, true)
	other := testImage(t, true, tarOf(t, "other/", "", "other/f", "arch"))
	otherArch := "arm64"
	if runtime.GOARCH == "arm64" {
		otherArch = "amd64"
	}
	dir := makeLayout(t, nil, nil)
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	ann := layout.WithAnnotations(map[string]string{ispec.AnnotationRefName: "multi:v1"})
	if err := p.AppendImage(other, ann, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: otherArch})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(host, ann, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH})); err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	got, err := Load(ctxT(t), st, dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(got) != 1 || got[0].Descriptor.Digest.String() != digestOf(t, host) {
		t.Fatalf("Load = %+v, want only the host image %s", got, digestOf(t, host))
	}
	if _, err := Load(ctxT(t), newStore(t), dir, WithPlatform(v1.Platform{OS: "windows", Architecture: "amd64"})); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("Load for an absent platform: %v, want ErrNotFound", err)
	}
}

// TestLoadHardLinkedBlob loads an oci-archive whose layer blob is a hard
// link to an earlier entry, as tar writes files with several names.
func TestLoadHardLinkedBlob(t *testing.T) {
	img := testImage(t, true)
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	blob := "blobs/sha256/" + m.Layers[0].Digest.Hex
	in, err := os.Open(tarDir(t, makeLayout(t, []v1.Image{img}, []string{"links:v1"})))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(in), tar.NewWriter(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == blob {
			tw.WriteHeader(&tar.Header{Name: "stash", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
			tw.Write(b)
			tw.WriteHeader(&tar.Header{Name: blob, Typeflag: tar.TypeLink, Linkname: "stash"})
			continue
		}
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "links.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	if _, err := Load(ctxT(t), st, p); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if g, w := diffIDs(t, st, "links:v1"), imgDiffIDs(t, img); !slices.Equal(g, w) {
		t.Errorf("diff_ids %v, want %v", g, w)
	}
}

// TestLoadChecksAllImagesFirst loads a layout of a good image and a bad one
// (its config has one diff_id for two layers): nothing may be stored, not
// even the good image written before the bad one is reached.
func TestLoadChecksAllImagesFirst(t *testing.T) {
	good := testImage(t, true)
	bad := testImage(t, true, tarOf(t, "b/", "", "b/f", "1"), tarOf(t, "c/", "", "c/f", "2"))
	cf, err := bad.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs = cf.RootFS.DiffIDs[:1]
	if bad, err = mutate.ConfigFile(bad, cf); err != nil {
		t.Fatal(err)
	}
	dir := makeLayout(t, []v1.Image{good, bad}, []string{"good:v1", "bad:v1"})
	st := newStore(t)
	got, err := Load(ctxT(t), st, dir)
	if !errors.Is(err, oci.ErrMalformedManifest) {
		t.Fatalf("Load = %v, want ErrMalformedManifest", err)
	}
	if len(got) != 0 {
		t.Errorf("Load returned %d loaded images, want none", len(got))
	}
	storeIsEmpty(t, st)
}
