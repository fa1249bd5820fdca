package ingest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fixture is a one-layer image (an uncompressed tar layer) held in memory.
type fixture struct {
	layer    []byte
	config   []byte
	manifest []byte
	diffID   digest.Digest
}

func newFixture(t *testing.T, mutate func(m *ispec.Manifest, c *ispec.Image)) fixture {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
	tw.Write([]byte("hi"))
	tw.Close()
	f := fixture{layer: buf.Bytes(), diffID: digest.FromBytes(buf.Bytes())}
	c := ispec.Image{RootFS: ispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{f.diffID}}}
	m := ispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ispec.MediaTypeImageManifest,
		Layers: []ispec.Descriptor{{MediaType: ispec.MediaTypeImageLayer, Digest: f.diffID, Size: int64(len(f.layer))}},
	}
	if mutate != nil {
		mutate(&m, &c)
	}
	f.config, _ = json.Marshal(c)
	if m.Config.Digest == "" {
		m.Config = ispec.Descriptor{MediaType: ispec.MediaTypeImageConfig, Digest: digest.FromBytes(f.config), Size: int64(len(f.config))}
	}
	f.manifest, _ = json.Marshal(m)
	return f
}

func (f fixture) open(body []byte) BlobOpener {
	return func(context.Context, ispec.Descriptor) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(body)), nil
	}
}

// TestWrite writes a good image, then checks that each broken one fails
// with its sentinel and adds no ref.
func TestWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	good := newFixture(t, nil)
	res, err := Write(ctx, st, Image{Manifest: good.manifest, Config: good.config, Refs: []string{"example.com/a:1"}}, good.open(good.layer))
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	if res.Fetched != 1 || res.Descriptor.Digest != digest.FromBytes(good.manifest) {
		t.Errorf("Write = %+v", res)
	}
	if b, err := os.ReadFile(filepath.Join(st.LayerPath(good.diffID), "hello")); err != nil || string(b) != "hi" {
		t.Errorf("layer file hello = %q, %v", b, err)
	}

	opened := errors.New("opener failed")
	for _, tc := range []struct {
		name string
		fix  fixture
		body []byte // nil: the fixture's layer
		open BlobOpener
		want error
	}{
		{"config digest", newFixture(t, func(m *ispec.Manifest, _ *ispec.Image) {
			m.Config = ispec.Descriptor{Digest: digest.FromString("other"), Size: 5}
		}), nil, nil, oci.ErrDigestMismatch},
		{"layer count", newFixture(t, func(_ *ispec.Manifest, c *ispec.Image) { c.RootFS.DiffIDs = nil }), nil, nil, oci.ErrMalformedManifest},
		{"layer media type", newFixture(t, func(m *ispec.Manifest, _ *ispec.Image) { m.Layers[0].MediaType = "application/x-foreign" }), nil, nil, oci.ErrUnsupportedMediaType},
		{"wrong diff_id", newFixture(t, func(_ *ispec.Manifest, c *ispec.Image) { c.RootFS.DiffIDs[0] = digest.FromString("x") }), nil, nil, oci.ErrDigestMismatch},
		{"corrupt blob", good, bytes.Replace(good.layer, []byte("hi"), []byte("ho"), 1), nil, oci.ErrDigestMismatch},
		{"long blob", good, append(append([]byte{}, good.layer...), 0), nil, oci.ErrTooLarge},
		{"opener error", good, nil, func(context.Context, ispec.Descriptor) (io.ReadCloser, error) { return nil, opened }, opened},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(filepath.Join(t.TempDir(), "store"))
			if err != nil {
				t.Fatal(err)
			}
			body := tc.body
			if body == nil {
				body = tc.fix.layer
			}
			open := tc.open
			if open == nil {
				open = tc.fix.open(body)
			}
			_, err = Write(ctx, st, Image{Manifest: tc.fix.manifest, Config: tc.fix.config, Refs: []string{"example.com/bad:1"}}, open)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Write = %v, want %v", err, tc.want)
			}
			if imgs, _ := st.Images(); len(imgs) != 0 {
				t.Errorf("images after a failed write: %v", imgs)
			}
			if st.HasLayer(tc.fix.diffID) {
				t.Errorf("layer %s published after a failed write", tc.fix.diffID)
			}
		})
	}
}

// TestParseManifestBounds: what a hostile registry could declare to
// exhaust memory or start endless downloads is refused before any fetch.
func TestParseManifestBounds(t *testing.T) {
	cfg := `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":%d}`
	layer := `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"%s","size":%d}`
	good := "sha256:" + strings.Repeat("b", 64)
	manifest := func(cfgSize int64, layers ...string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
			fmt.Sprintf(cfg, cfgSize) + `,"layers":[` + strings.Join(layers, ",") + `]}`)
	}
	many := make([]string, oci.MaxLayers+1)
	for i := range many {
		many[i] = fmt.Sprintf(layer, good, 10)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want error
	}{
		{"fine", manifest(100, fmt.Sprintf(layer, good, 10)), nil},
		{"huge config", manifest(10 << 30), oci.ErrTooLarge},
		{"empty config", manifest(0), oci.ErrTooLarge},
		{"too many layers", manifest(100, many...), oci.ErrTooLarge},
		{"bad layer digest", manifest(100, fmt.Sprintf(layer, "sha256:zz", 10)), oci.ErrMalformedManifest},
		{"negative layer size", manifest(100, fmt.Sprintf(layer, good, -1)), oci.ErrMalformedManifest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseManifest(tc.raw)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("ParseManifest: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestWriteTagsAllOrNone gives Write two refs of which the second cannot be
// recorded: the first must not be left pointing at the image.
func TestWriteTagsAllOrNone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil)
	img := Image{Manifest: f.manifest, Config: f.config, Refs: []string{"example.com/ok:1", "Not A Ref!"}}
	if _, err := Write(ctx, st, img, f.open(f.layer)); err == nil {
		t.Fatal("Write with an invalid second ref succeeded")
	}
	if imgs, err := st.Images(); err != nil || len(imgs) != 0 {
		t.Errorf("images = %v, %v; want none", imgs, err)
	}
	img.Refs = []string{"example.com/ok:1", "example.com/ok:2"}
	if _, err := Write(ctx, st, img, f.open(f.layer)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if imgs, err := st.Images(); err != nil || len(imgs) != 2 {
		t.Errorf("images = %v, %v; want both refs", imgs, err)
	}
}
