package store

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lamina-dev/lamina/oci"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func openT(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// putJSON stores v as a blob and returns its digest.
func putJSON(t *testing.T, s *Store, v any) (digest.Digest, int64) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(b)
	if err := s.PutBlob(d, b); err != nil {
		t.Fatal(err)
	}
	return d, int64(len(b))
}

// testImage is what putImage stored.
type testImage struct {
	desc    ispec.Descriptor // of the manifest
	config  digest.Digest
	blobs   []digest.Digest // layer blobs, bottom first
	diffIDs []digest.Digest
}

// putImage stores an image with one layer per name: a blob (the name's bytes;
// no real tar is needed here) and an unpacked layer directory holding a file
// of that name, committed through CommitLayer as a pull does.
func putImage(t *testing.T, s *Store, layers ...string) testImage {
	t.Helper()
	var im testImage
	var descs []ispec.Descriptor
	for _, n := range layers {
		blob := []byte("blob " + n)
		bd := digest.FromBytes(blob)
		if err := s.PutBlob(bd, blob); err != nil {
			t.Fatal(err)
		}
		diffID := digest.FromString("diff " + n)
		if !s.HasLayer(diffID) {
			dir, err := s.MkdirTemp("layer")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := s.CommitLayer(dir, diffID); err != nil {
				t.Fatal(err)
			}
		}
		im.blobs = append(im.blobs, bd)
		im.diffIDs = append(im.diffIDs, diffID)
		descs = append(descs, ispec.Descriptor{MediaType: ispec.MediaTypeImageLayer, Digest: bd, Size: int64(len(blob))})
	}
	cd, csize := putJSON(t, s, ispec.Image{
		Platform: ispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ispec.RootFS{Type: "layers", DiffIDs: im.diffIDs},
	})
	im.config = cd
	md, msize := putJSON(t, s, ispec.Manifest{
		Versioned: versioned(),
		MediaType: ispec.MediaTypeImageManifest,
		Config:    ispec.Descriptor{MediaType: ispec.MediaTypeImageConfig, Digest: cd, Size: csize},
		Layers:    descs,
	})
	im.desc = ispec.Descriptor{MediaType: ispec.MediaTypeImageManifest, Digest: md, Size: msize}
	return im
}

func TestOpenCreatesLayout(t *testing.T) {
	root := filepath.Join(t.TempDir(), "store")
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"blobs/sha256", "layers", "containers", "tmp"} {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: not a directory (%v)", d, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "oci-layout"))
	if err != nil || string(b) != layoutFile {
		t.Errorf("oci-layout = %q, %v", b, err)
	}
	b, err = os.ReadFile(filepath.Join(root, "index.json"))
	if err != nil {
		t.Fatalf("index.json: %v", err)
	}
	var idx ispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ispec.MediaTypeImageIndex || idx.Manifests == nil || len(idx.Manifests) != 0 {
		t.Errorf("index.json = %s", b)
	}

	// Opening again keeps what is there.
	im := putImage(t, s, "a")
	if err := s.Tag("example.com/a:1", im.desc); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if imgs, err := s2.Images(); err != nil || len(imgs) != 1 {
		t.Errorf("after reopening: images %v, %v", imgs, err)
	}
}

func TestBlobWriter(t *testing.T) {
	s := openT(t)
	content := []byte("hello")
	d := digest.FromBytes(content)
	tests := []struct {
		name  string
		d     digest.Digest
		size  int64
		write string
		want  error // from Write or Commit; nil means stored
	}{
		{"ok", d, 5, "hello", nil},
		{"too many bytes", d, 4, "hello", oci.ErrTooLarge},
		{"wrong content", d, 5, "hallo", oci.ErrDigestMismatch},
		{"short", digest.FromString("hel"), 5, "hel", oci.ErrMalformedManifest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t)
			w, err := s.NewBlobWriter(tc.d, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			_, err = w.Write([]byte(tc.write))
			if err == nil {
				err = w.Commit()
			}
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if s.HasBlob(tc.d) != (tc.want == nil) {
				t.Errorf("HasBlob = %v", s.HasBlob(tc.d))
			}
			w.Close()
			if ents, _ := os.ReadDir(s.TempDir()); len(ents) != 0 {
				t.Errorf("tmp/ not empty after Close: %v", ents)
			}
		})
	}
	for _, bad := range []digest.Digest{"", "sha256:zz", digest.SHA512.FromBytes(content)} {
		if _, err := s.NewBlobWriter(bad, 5); err == nil {
			t.Errorf("NewBlobWriter(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	s := openT(t)
	a, b := putImage(t, s, "a"), putImage(t, s, "b")
	for ref, desc := range map[string]ispec.Descriptor{
		"index.docker.io/library/busybox:latest": a.desc,
		"example.com/team/app:v1":                b.desc,
		"example.com/team/app:also-b":            b.desc,
	} {
		if err := s.Tag(ref, desc); err != nil {
			t.Fatal(err)
		}
	}
	hexB := b.desc.Digest.Encoded()
	tests := []struct {
		name string
		ref  string
		want digest.Digest // "" when an error is expected
		err  error
	}{
		{"full ref", "example.com/team/app:v1", b.desc.Digest, nil},
		{"normalised ref", "busybox", a.desc.Digest, nil},
		{"normalised with tag", "docker.io/library/busybox:latest", a.desc.Digest, nil},
		{"full digest", b.desc.Digest.String(), b.desc.Digest, nil},
		{"hex", hexB, b.desc.Digest, nil},
		{"prefix of 6 shared by two refs of one image", hexB[:6], b.desc.Digest, nil},
		{"prefix with algorithm", "sha256:" + hexB[:8], b.desc.Digest, nil},
		{"prefix of 5", hexB[:5], "", oci.ErrNotFound},
		{"unknown ref", "example.com/team/app:v2", "", oci.ErrNotFound},
		{"unknown digest", "sha256:" + strings.Repeat("0", 64), "", oci.ErrNotFound},
		{"not a ref", "UPPER/case", "", oci.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im, err := s.Resolve(tc.ref)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if im.Descriptor.Digest != tc.want {
				t.Fatalf("resolved to %s, want %s", im.Descriptor.Digest, tc.want)
			}
			if im.Descriptor.Annotations[ispec.AnnotationRefName] != im.Ref {
				t.Errorf("descriptor annotation %q, ref %q", im.Descriptor.Annotations[ispec.AnnotationRefName], im.Ref)
			}
		})
	}

	t.Run("ambiguous prefix", func(t *testing.T) {
		// Two manifests whose digests share 6 hex characters are too costly
		// to find; Resolve reads only index.json, so write it directly.
		s := openT(t)
		p := "abcdef"
		idx := &ispec.Index{Versioned: versioned(), MediaType: ispec.MediaTypeImageIndex}
		for i, ref := range []string{"example.com/x:1", "example.com/y:1"} {
			d := digest.NewDigestFromEncoded(digest.SHA256, p+strings.Repeat(string(rune('0'+i)), 58))
			idx.Manifests = append(idx.Manifests, ispec.Descriptor{
				MediaType: ispec.MediaTypeImageManifest, Digest: d, Size: 1,
				Annotations: map[string]string{ispec.AnnotationRefName: ref},
			})
		}
		if err := s.writeIndex(idx); err != nil {
			t.Fatal(err)
		}
		_, err := s.Resolve(p)
		if err == nil || errors.Is(err, oci.ErrNotFound) || !strings.Contains(err.Error(), "ambiguous") {
			t.Fatalf("err = %v, want an ambiguity error", err)
		}
		if im, err := s.Resolve(p + "0"); err != nil || im.Ref != "example.com/x:1" {
			t.Fatalf("longer prefix: %v, %v", im, err)
		}
	})
}

func TestTagUntag(t *testing.T) {
	s := openT(t)
	a, b := putImage(t, s, "a"), putImage(t, s, "b")
	const ref = "example.com/app:v1"
	if err := s.Tag(ref, a.desc); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ref, b.desc); err != nil { // retag replaces
		t.Fatal(err)
	}
	imgs, err := s.Images()
	if err != nil || len(imgs) != 1 || imgs[0].Descriptor.Digest != b.desc.Digest {
		t.Fatalf("after retag: %v, %v", imgs, err)
	}
	if err := s.Tag("example.com/app:missing", ispec.Descriptor{Digest: digest.FromString("no such manifest")}); err == nil {
		t.Error("Tag of a manifest that is not stored succeeded")
	}
	if err := s.Untag(ref); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resolve(ref); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("Resolve after Untag: %v", err)
	}
	if err := s.Untag(ref); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("second Untag: %v", err)
	}
	if !s.HasBlob(b.desc.Digest) {
		t.Error("Untag removed content")
	}
}

func TestContainers(t *testing.T) {
	s := openT(t)
	im := putImage(t, s, "a")
	tests := []struct {
		name     string
		ownUpper bool
	}{
		{"own upper", true},
		{"caller's upper", false},
	}
	var ids []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Container{Ref: "example.com/app:v1", Manifest: im.desc.Digest, Layers: im.diffIDs, Mountpoint: "/mnt/x", Name: "runtime-id"}
			if !tc.ownUpper {
				c.Upper, c.Work = "/elsewhere/upper", "/elsewhere/work"
			}
			if err := s.CreateContainer(c, tc.ownUpper); err != nil {
				t.Fatal(err)
			}
			if c.ID == "" || c.OwnUpper != tc.ownUpper {
				t.Fatalf("created %+v", c)
			}
			ids = append(ids, c.ID)
			if tc.ownUpper {
				for _, d := range []string{c.Upper, c.Work} {
					if filepath.Dir(d) != s.ContainerDir(c.ID) {
						t.Errorf("%s is not in the container's directory", d)
					}
					if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
						t.Errorf("%s: %v", d, err)
					}
				}
			}
			c.Name, c.Mountpoint = "renamed", "/mnt/y"
			if err := s.SaveContainer(c); err != nil {
				t.Fatal(err)
			}
			cs, err := s.Containers()
			if err != nil {
				t.Fatal(err)
			}
			var got *Container
			for i := range cs {
				if cs[i].ID == c.ID {
					got = &cs[i]
				}
			}
			if got == nil || got.Name != "renamed" || got.Mountpoint != "/mnt/y" || got.Upper != c.Upper ||
				got.Manifest != c.Manifest || len(got.Layers) != 1 || got.Layers[0] != im.diffIDs[0] {
				t.Fatalf("listed %+v, saved %+v", got, c)
			}
		})
	}
	cs, err := s.Containers()
	if err != nil || len(cs) != 2 || cs[0].ID > cs[1].ID {
		t.Fatalf("Containers = %v, %v (want 2, sorted)", cs, err)
	}
	for _, id := range ids {
		if err := s.RemoveContainer(id); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(s.ContainerDir(id)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("container directory left: %v", err)
		}
	}
	if cs, err := s.Containers(); err != nil || len(cs) != 0 {
		t.Errorf("after removal: %v, %v", cs, err)
	}
	for _, id := range []string{"", "../x", "a/b"} {
		if err := s.RemoveContainer(id); !errors.Is(err, oci.ErrNotFound) {
			t.Errorf("RemoveContainer(%q) = %v", id, err)
		}
		if err := s.SaveContainer(&Container{ID: id}); !errors.Is(err, oci.ErrNotFound) {
			t.Errorf("SaveContainer(%q) = %v", id, err)
		}
	}
}

func TestGC(t *testing.T) {
	s := openT(t)
	kept := putImage(t, s, "base", "app")    // tagged
	dropped := putImage(t, s, "base", "old") // untagged: "old" goes, "base" is shared
	mounted := putImage(t, s, "run")         // untagged but a container uses it
	for ref, im := range map[string]testImage{"example.com/kept:1": kept, "example.com/dropped:1": dropped, "example.com/mounted:1": mounted} {
		if err := s.Tag(ref, im.desc); err != nil {
			t.Fatal(err)
		}
	}
	c := &Container{Ref: "example.com/mounted:1", Manifest: mounted.desc.Digest, Layers: mounted.diffIDs}
	if err := s.CreateContainer(c, true); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"example.com/dropped:1", "example.com/mounted:1"} {
		if err := s.Untag(ref); err != nil {
			t.Fatal(err)
		}
	}
	stray := []byte("stray")
	if err := s.PutBlob(digest.FromBytes(stray), stray); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MkdirTemp("layer"); err != nil {
		t.Fatal(err)
	}

	st, err := s.GC()
	if err != nil {
		t.Fatal(err)
	}
	live := map[digest.Digest]bool{}
	for _, im := range []testImage{kept, mounted} {
		live[im.desc.Digest], live[im.config] = true, true
		for _, d := range im.blobs {
			live[d] = true
		}
	}
	gone := []digest.Digest{dropped.desc.Digest, dropped.config, dropped.blobs[1], digest.FromBytes(stray)}
	for d := range live {
		if !s.HasBlob(d) {
			t.Errorf("blob %s removed", d)
		}
	}
	for _, d := range gone {
		if s.HasBlob(d) {
			t.Errorf("blob %s kept", d)
		}
	}
	for _, id := range append(kept.diffIDs, mounted.diffIDs...) {
		if !s.HasLayer(id) {
			t.Errorf("layer %s removed", id)
		}
	}
	if s.HasLayer(dropped.diffIDs[1]) {
		t.Errorf("layer %s kept", dropped.diffIDs[1])
	}
	if st.Blobs != len(gone) || st.Layers != 1 || st.Bytes <= 0 {
		t.Errorf("stats %+v, want %d blobs and 1 layer", st, len(gone))
	}
	if ents, _ := os.ReadDir(s.TempDir()); len(ents) != 0 {
		t.Errorf("tmp/ not emptied: %v", ents)
	}
	if _, _, err := s.LayerDirs(kept.desc.Digest); err != nil {
		t.Errorf("kept image: %v", err)
	}

	// Once the container goes, so does its image.
	if err := s.RemoveContainer(c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(); err != nil {
		t.Fatal(err)
	}
	if s.HasBlob(mounted.desc.Digest) || s.HasLayer(mounted.diffIDs[0]) {
		t.Error("content of the removed container kept")
	}
	if !s.HasBlob(kept.desc.Digest) || !s.HasLayer(kept.diffIDs[1]) {
		t.Error("tagged image removed")
	}
}

func TestReadJSONBlob(t *testing.T) {
	s := openT(t)
	put := func(b string) digest.Digest {
		d := digest.FromString(b)
		if err := s.PutBlob(d, []byte(b)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	good := put(`{"schemaVersion":2,"layers":[]}`)
	tests := []struct {
		name      string
		d         digest.Digest
		malformed bool // wants oci.ErrMalformedManifest; otherwise some other error
	}{
		{"malformed JSON", put(`{"schemaVersion":`), true},
		{"wrong JSON type", put(`[1,2,3]`), true},
		{"wrong field type", put(`{"layers":"none"}`), true},
		{"missing blob", digest.FromString("absent"), false},
		{"invalid digest", "sha256:zz", false},
		{"not sha256", digest.SHA512.FromString("x"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readJSONBlob[ispec.Manifest](s, tc.d, "manifest")
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, oci.ErrMalformedManifest) != tc.malformed {
				t.Fatalf("err = %v; malformed manifest wanted: %v", err, tc.malformed)
			}
		})
	}
	t.Run("corrupt blob", func(t *testing.T) {
		if err := os.WriteFile(s.BlobPath(good), []byte(`{"schemaVersion":3}`), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Manifest(good); err == nil || !strings.Contains(err.Error(), "digest") {
			t.Fatalf("err = %v, want a digest complaint", err)
		}
	})
}

// TestHandEditedRecords: malformed digests in index.json or a container
// record are errors naming the entry, never a panic.
func TestHandEditedRecords(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		data  string
		call  func(*Store) error
		wants string
	}{
		{"index digest without algorithm", "index.json",
			`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"nocolon","size":1,"annotations":{"org.opencontainers.image.ref.name":"x"}}]}`,
			func(s *Store) error { _, err := s.Resolve("x"); return err }, "manifests[0]"},
		{"index digest short", "index.json",
			`{"schemaVersion":2,"manifests":[{"digest":"sha256:abc","size":1}]}`,
			func(s *Store) error { _, err := s.Images(); return err }, "manifests[0]"},
		{"index for gc", "index.json",
			`{"schemaVersion":2,"manifests":[{"digest":"sha256","size":1}]}`,
			func(s *Store) error { _, err := s.GC(); return err }, "manifests[0]"},
		{"container layer", "containers/c1/container.json",
			`{"id":"c1","layers":["sha256:zz"]}`,
			func(s *Store) error { _, err := s.Containers(); return err }, "layers[0]"},
		{"container manifest", "containers/c1/container.json",
			`{"id":"c1","manifest":"md5"}`,
			func(s *Store) error { _, err := s.Containers(); return err }, "manifest"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openT(t)
			p := filepath.Join(s.root, tc.file)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			err := tc.call(s)
			if err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Fatalf("got %v, want an error naming %s", err, tc.wants)
			}
		})
	}
}
