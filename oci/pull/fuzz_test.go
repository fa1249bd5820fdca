package pull

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/ingest"
	"github.com/lamina-dev/lamina/oci/layer"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerConfig   = "application/vnd.docker.container.image.v1+json"
	mtDockerLayer    = "application/vnd.docker.image.rootfs.diff.tar"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// fuzzFixture is a tiny image (one uncompressed layer) in both manifest
// formats, plus an index pointing at the OCI one, all as registry bytes.
type fuzzFixture struct {
	blobs     map[digest.Digest][]byte // config, layer and manifests
	mediaType map[digest.Digest]string // of the manifests among blobs
	oci       []byte                   // OCI image manifest
	docker    []byte                   // Docker schema 2 manifest
	index     []byte                   // OCI index of the OCI manifest for linux/amd64
	config    digest.Digest
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	fx := &fuzzFixture{blobs: map[digest.Digest][]byte{}, mediaType: map[digest.Digest]string{}}
	add := func(b []byte) digest.Digest {
		d := digest.FromBytes(b)
		fx.blobs[d] = b
		return d
	}
	mustJSON := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	lay := tarOf(t, "etc/", "<dir>", "etc/hostname", "fuzz\n")
	ld := add(lay)
	cfg := mustJSON(ispec.Image{
		Platform: ispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{ld}},
	})
	cd := add(cfg)
	fx.config = cd
	manifest := func(mt, cmt, lmt string) []byte {
		return mustJSON(map[string]any{
			"schemaVersion": 2,
			"mediaType":     mt,
			"config":        map[string]any{"mediaType": cmt, "digest": cd, "size": len(cfg)},
			"layers":        []any{map[string]any{"mediaType": lmt, "digest": ld, "size": len(lay)}},
		})
	}
	fx.oci = manifest(ispec.MediaTypeImageManifest, ispec.MediaTypeImageConfig, ispec.MediaTypeImageLayer)
	fx.docker = manifest(mtDockerManifest, mtDockerConfig, mtDockerLayer)
	od := add(fx.oci)
	fx.mediaType[od] = ispec.MediaTypeImageManifest
	fx.mediaType[add(fx.docker)] = mtDockerManifest
	fx.index = mustJSON(map[string]any{
		"schemaVersion": 2,
		"mediaType":     ispec.MediaTypeImageIndex,
		"manifests": []any{map[string]any{
			"mediaType": ispec.MediaTypeImageManifest, "digest": od, "size": len(fx.oci),
			"platform": map[string]string{"os": "linux", "architecture": "amd64"},
		}},
	})
	return fx
}

// seeds returns the seed corpus shared by the fuzzers: (media type, body).
func (fx *fuzzFixture) seeds() [][2]string {
	d := fx.config
	cfgLine := fmt.Sprintf(`"config":{"mediaType":%q,"digest":%q,"size":2}`, ispec.MediaTypeImageConfig, d)
	return [][2]string{
		{ispec.MediaTypeImageManifest, string(fx.oci)},
		{mtDockerManifest, string(fx.docker)},
		{ispec.MediaTypeImageIndex, string(fx.index)},
		{mtDockerList, strings.Replace(string(fx.index), ispec.MediaTypeImageIndex, mtDockerList, 1)},
		{ispec.MediaTypeImageManifest, "\x00\xff garbage {"},
		{ispec.MediaTypeImageManifest, ""},
		{ispec.MediaTypeImageManifest, "null"},
		{ispec.MediaTypeImageManifest, `{"schemaVersion":2,` + cfgLine + `,"layers":null}`},
		{ispec.MediaTypeImageManifest, `{"schemaVersion":2,` + cfgLine + `,"layers":[null]}`},
		{ispec.MediaTypeImageManifest, `{"schemaVersion":2,` + cfgLine + `,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:zz","size":-1}]}`},
		{ispec.MediaTypeImageManifest, `{"schemaVersion":2,` + cfgLine + `,"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + string(d) + `","size":1e300}]}`},
		{ispec.MediaTypeImageManifest, `{"schemaVersion":99999999999999999999}`},
		{ispec.MediaTypeImageManifest, `{"schemaVersion":1,"fsLayers":[]}`},
		{"application/vnd.docker.distribution.manifest.v1+prettyjws", `{"schemaVersion":1}`},
		{ispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[null]}`},
		{ispec.MediaTypeImageIndex, `{"schemaVersion":2,"manifests":[{"digest":"sha256:00","platform":{"os":"linux","architecture":"amd64"}}]}`},
		{"text/plain", "hello"},
		{ispec.MediaTypeImageIndex, string(fx.index[:len(fx.index)/2])},
	}
}

// sentinels are the errors Image promises to wrap.
var sentinels = []error{
	oci.ErrNotFound, oci.ErrUnauthorized, oci.ErrDigestMismatch,
	oci.ErrUnsupportedMediaType, oci.ErrMalformedManifest, oci.ErrMalformedLayer,
	oci.ErrUnsafePath, oci.ErrTooLarge, oci.ErrUnreachable, oci.ErrUnavailable, oci.ErrPlainHTTP,
}

func isSentinel(err error, allowed ...error) bool {
	for _, s := range allowed {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzParseManifest feeds untrusted bytes to parseManifest: it must not
// panic, must fail with ErrMalformedManifest or ErrUnsupportedMediaType, or
// return a schema 2 image manifest of a supported type whose config digest
// is valid.
func FuzzParseManifest(f *testing.F) {
	for _, s := range newFuzzFixture(f).seeds() {
		f.Add([]byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, mt, err := ingest.ParseManifest(raw)
		if err != nil {
			if !isSentinel(err, oci.ErrMalformedManifest, oci.ErrUnsupportedMediaType) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if m.SchemaVersion != 2 {
			t.Fatalf("accepted schemaVersion %d", m.SchemaVersion)
		}
		if mt != ispec.MediaTypeImageManifest && mt != mtDockerManifest {
			t.Fatalf("accepted media type %q", mt)
		}
		if err := m.Config.Digest.Validate(); err != nil {
			t.Fatalf("accepted config digest %q: %v", m.Config.Digest, err)
		}
	})
}

// fakeRegistry answers the registry API from memory: the tag "t" of
// repository "r" is body with Content-Type mt; every other manifest and blob
// is looked up by digest in the fixture.
type fakeRegistry struct {
	fx   *fuzzFixture
	mt   string
	body []byte
}

func (r *fakeRegistry) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	resp := func(code int, ct string, b []byte) *http.Response {
		h := http.Header{}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(bytes.NewReader(b)),
			ContentLength: int64(len(b)), Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
	}
	notFound := func(code string) *http.Response {
		return resp(http.StatusNotFound, "application/json", []byte(`{"errors":[{"code":"`+code+`"}]}`))
	}
	p := req.URL.Path
	switch {
	case p == "/v2/" || p == "/v2":
		return resp(http.StatusOK, "", nil), nil
	case p == "/v2/r/manifests/t":
		return resp(http.StatusOK, r.mt, r.body), nil
	case strings.HasPrefix(p, "/v2/r/manifests/"):
		d := digest.Digest(strings.TrimPrefix(p, "/v2/r/manifests/"))
		if mt, ok := r.fx.mediaType[d]; ok {
			return resp(http.StatusOK, mt, r.fx.blobs[d]), nil
		}
		return notFound("MANIFEST_UNKNOWN"), nil
	case strings.HasPrefix(p, "/v2/r/blobs/"):
		d := digest.Digest(strings.TrimPrefix(p, "/v2/r/blobs/"))
		if b, ok := r.fx.blobs[d]; ok {
			return resp(http.StatusOK, "application/octet-stream", b), nil
		}
		return notFound("BLOB_UNKNOWN"), nil
	}
	return notFound("NAME_UNKNOWN"), nil
}

// FuzzPullManifest serves untrusted manifest or index bytes (with a fuzzed
// Content-Type) as the tag being pulled, through the whole of Image against
// an in-memory registry. Image must not panic; it fails with one of the
// sentinels it documents, or the image it records has a manifest whose layers
// all have sha256 digests, supported media types and unpacked directories.
// Each run opens a store (with fsyncs), so the engine's default minimisation
// of new inputs takes most of a short run; for long runs add
// -fuzzminimizetime 1x.
func FuzzPullManifest(f *testing.F) {
	fx := newFuzzFixture(f)
	for _, s := range fx.seeds() {
		f.Add(s[0], []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, mt string, body []byte) {
		st, err := store.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := Image(ctx, st, "registry.invalid/r:t",
			WithTransport(&fakeRegistry{fx: fx, mt: mt, body: body}),
			WithBasicAuth("u", "p"),
			WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
		if err != nil {
			if !isSentinel(err, sentinels...) {
				t.Fatalf("untyped error: %v", err)
			}
			if imgs, _ := st.Images(); len(imgs) != 0 {
				t.Fatalf("failed pull recorded %v", imgs)
			}
			return
		}
		m, err := st.Manifest(res.Descriptor.Digest)
		if err != nil {
			t.Fatal(err)
		}
		c, err := st.Config(m.Config.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.RootFS.DiffIDs) != len(m.Layers) {
			t.Fatalf("%d layers, %d diff_ids", len(m.Layers), len(c.RootFS.DiffIDs))
		}
		for i, l := range m.Layers {
			if err := l.Digest.Validate(); err != nil || l.Digest.Algorithm() != digest.SHA256 {
				t.Fatalf("layer digest %q accepted", l.Digest)
			}
			if _, err := layer.CompressionOf(l.MediaType); err != nil {
				t.Fatalf("layer media type %q accepted", l.MediaType)
			}
			if !st.HasBlob(l.Digest) || !st.HasLayer(c.RootFS.DiffIDs[i]) {
				t.Fatalf("layer %s recorded but not stored", l.Digest)
			}
		}
	})
}

// TestPullServedContentErrors pins the errors for content that
// go-containerregistry rejects before lamina's own checks see it.
func TestPullServedContentErrors(t *testing.T) {
	fx := newFuzzFixture(t)
	badLayer := strings.Replace(string(fx.oci), `"digest":"sha256:`, `"digest":"sha256:zz`, 2)
	badLayer = strings.Replace(badLayer, `"digest":"sha256:zz`, `"digest":"sha256:`, 1) // config stays valid
	var m ispec.Manifest
	if err := json.Unmarshal(fx.oci, &m); err != nil {
		t.Fatal(err)
	}
	missingLayer := strings.Replace(string(fx.oci), m.Layers[0].Digest.String(), digest.FromString("absent").String(), 1)
	tests := []struct {
		name     string
		platform string
		mt, body string
		want     error
	}{
		{"index without the platform", "s390x", ispec.MediaTypeImageIndex, string(fx.index), oci.ErrNotFound},
		{"truncated index", "amd64", ispec.MediaTypeImageIndex, string(fx.index[:len(fx.index)/2]), oci.ErrMalformedManifest},
		{"index child digest", "amd64", ispec.MediaTypeImageIndex,
			`{"schemaVersion":2,"manifests":[{"digest":"sha256:00","platform":{"os":"linux","architecture":"amd64"}}]}`, oci.ErrMalformedManifest},
		{"layer digest", "amd64", ispec.MediaTypeImageManifest, badLayer, oci.ErrMalformedManifest},
		{"manifest not JSON", "amd64", ispec.MediaTypeImageManifest, `{"schemaVersion":2,"config":`, oci.ErrMalformedManifest},
		{"layer blob missing", "amd64", ispec.MediaTypeImageManifest, missingLayer, oci.ErrNotFound},
		{"config size", "amd64", ispec.MediaTypeImageManifest,
			strings.Replace(string(fx.oci), fmt.Sprintf(`"size":%d`, len(fx.blobs[fx.config])), `"size":2`, 1), oci.ErrMalformedManifest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = Image(ctxT(t), st, "registry.invalid/r:t",
				WithTransport(&fakeRegistry{fx: fx, mt: tc.mt, body: []byte(tc.body)}),
				WithBasicAuth("u", "p"),
				WithPlatform(v1.Platform{OS: "linux", Architecture: tc.platform}))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("valid", func(t *testing.T) {
		for mt, body := range map[string][]byte{
			ispec.MediaTypeImageManifest: fx.oci, mtDockerManifest: fx.docker, ispec.MediaTypeImageIndex: fx.index,
		} {
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Image(ctxT(t), st, "registry.invalid/r:t",
				WithTransport(&fakeRegistry{fx: fx, mt: mt, body: body}),
				WithBasicAuth("u", "p"),
				WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"})); err != nil {
				t.Fatalf("%s: %v", mt, err)
			}
		}
	})
}
