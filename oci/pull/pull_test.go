package pull

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/registrytest"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/whiteout"
	"golang.org/x/sys/unix"
)

// tarOf builds a layer tar from name → content; a content of "<dir>" makes
// a directory, "-> T" a symlink to T.
func tarOf(t testing.TB, files ...string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		n, c := files[i], files[i+1]
		h := &tar.Header{Name: n, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Uid: 1000, Gid: 1000}
		switch {
		case c == "<dir>":
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		case strings.HasPrefix(c, "-> "):
			h.Typeflag, h.Linkname = tar.TypeSymlink, c[3:]
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(c))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(c))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// testLayer is a v1.Layer over fixed bytes.
type testLayer struct {
	raw, comp []byte
	mt        types.MediaType
}

func newLayer(t testing.TB, raw []byte, mt types.MediaType) *testLayer {
	l := &testLayer{raw: raw, mt: mt}
	switch {
	case strings.HasSuffix(string(mt), "gzip"):
		var b bytes.Buffer
		z := gzip.NewWriter(&b)
		z.Write(raw)
		z.Close()
		l.comp = b.Bytes()
	case strings.HasSuffix(string(mt), "zstd"):
		e, _ := zstd.NewWriter(nil)
		l.comp = e.EncodeAll(raw, nil)
	default:
		l.comp = raw
	}
	return l
}

func (l *testLayer) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(l.comp))
	return h, err
}
func (l *testLayer) DiffID() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(l.raw))
	return h, err
}
func (l *testLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.comp)), nil
}
func (l *testLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.raw)), nil
}
func (l *testLayer) Size() (int64, error)                { return int64(len(l.comp)), nil }
func (l *testLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

func image(t testing.TB, oci bool, layers ...v1.Layer) v1.Image {
	img := empty.Image
	if oci {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"/bin/sh"}, Env: []string{"A=1"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func push(t testing.TB, ref string, img v1.Image) {
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// memRegistry serves go-containerregistry's in-memory registry, through
// wrap if given; it returns host:port.
func memRegistry(t *testing.T, wrap func(http.Handler) http.Handler) string {
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type recorder struct {
	mu     sync.Mutex
	events []oci.Progress
}

func (r *recorder) add(p oci.Progress) { r.mu.Lock(); r.events = append(r.events, p); r.mu.Unlock() }
func (r *recorder) count(s oci.Status) (n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.Status == s {
			n++
		}
	}
	return n
}

var (
	base  = tarOf(nil, "etc/", "<dir>", "etc/hosts", "127.0.0.1 localhost\n", "bin/", "<dir>", "bin/sh", "-> busybox", "old/", "<dir>", "old/a", "a", "gone", "bye")
	upper = tarOf(nil, ".wh.gone", "", "old/", "<dir>", "old/.wh..wh..opq", "", "old/b", "b", "etc/hosts", "::1 localhost\n")
)

func TestPullSharedLayers(t *testing.T) {
	host := memRegistry(t, nil)
	lBase := newLayer(t, base, types.DockerLayer)
	lUp := newLayer(t, upper, types.OCILayerZStd)
	push(t, host+"/app:v1", image(t, false, lBase, lUp))
	push(t, host+"/other:v1", image(t, true, newLayer(t, base, types.DockerLayer), newLayer(t, tarOf(t, "new", "n"), types.OCIUncompressedLayer)))

	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	res, err := Image(ctxT(t), st, host+"/app:v1", WithProgress(rec.add))
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 2 || res.Existing != 0 {
		t.Errorf("first pull: %+v", res)
	}
	im, err := st.Resolve(host + "/app:v1")
	if err != nil || im.Descriptor.Digest != res.Descriptor.Digest {
		t.Fatalf("resolve: %+v %v", im, err)
	}
	dirs, _, err := st.LayerDirs(im.Descriptor.Digest)
	if err != nil || len(dirs) != 2 {
		t.Fatalf("layer dirs %v %v", dirs, err)
	}
	top := dirs[0]
	var stt unix.Stat_t
	if s, _ := whiteout.Lookup(top, "gone", false, &stt); s != whiteout.WhitedOut {
		t.Errorf("gone not whited out in the top layer: %v", s)
	}
	if info, _ := whiteout.Inspect(filepath.Join(top, "old")); !info.Opaque {
		t.Errorf("old not opaque")
	}
	if b, _ := os.ReadFile(filepath.Join(top, "etc/hosts")); string(b) != "::1 localhost\n" {
		t.Errorf("etc/hosts = %q", b)
	}
	for _, f := range []string{"oci-layout", "index.json"} {
		if _, err := os.Stat(filepath.Join(st.Root(), f)); err != nil {
			t.Error(err)
		}
	}

	rec2 := &recorder{}
	res, err = Image(ctxT(t), st, host+"/other:v1", WithProgress(rec2.add))
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 1 || res.Existing != 1 || rec2.count(oci.StatusExists) != 1 {
		t.Errorf("second pull: %+v, %d already exists", res, rec2.count(oci.StatusExists))
	}
	rec3 := &recorder{}
	if res, err = Image(ctxT(t), st, host+"/app:v1", WithProgress(rec3.add)); err != nil || res.Fetched != 0 || rec3.count(oci.StatusDownloading) != 0 {
		t.Errorf("re-pull: %+v %v", res, err)
	}

	// rmi: untag one image and GC; the shared layer stays.
	if err := st.Untag(host + "/app:v1"); err != nil {
		t.Fatal(err)
	}
	gs, err := st.GC()
	if err != nil {
		t.Fatal(err)
	}
	if gs.Layers != 1 || gs.Blobs != 3 { // zstd layer, config, manifest
		t.Errorf("gc: %+v", gs)
	}
	im2, _ := st.Resolve(host + "/other:v1")
	if _, _, err := st.LayerDirs(im2.Descriptor.Digest); err != nil {
		t.Errorf("other lost a layer: %v", err)
	}
}

func TestPullErrors(t *testing.T) {
	good := newLayer(t, tarOf(t, "f", "content"), types.OCILayer)
	gd, _ := good.Digest()
	corrupt := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+gd.String()) {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, r)
				b := rec.Body.Bytes()
				b[len(b)/2] ^= 0xff
				w.Header().Set("Content-Length", fmt.Sprint(len(b)))
				w.WriteHeader(rec.Code)
				w.Write(b)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	host := memRegistry(t, corrupt)
	push(t, host+"/bad:v1", image(t, true, good))
	push(t, host+"/foreign:v1", image(t, true, newLayer(t, tarOf(t, "f", "x"), types.DockerForeignLayer)))
	push(t, host+"/zip:v1", image(t, true, newLayer(t, tarOf(t, "f", "y"), "application/vnd.oci.image.layer.v1.tar+bzip2")))
	hostile := newLayer(t, tarOf(t, "s", "-> /", "s/etc/evil", "x"), types.OCILayer)
	push(t, host+"/hostile:v1", image(t, true, hostile))

	cases := []struct {
		ref  string
		want error
	}{
		{host + "/bad:v1", oci.ErrDigestMismatch},
		{host + "/missing:v1", oci.ErrNotFound},
		{host + "/bad:nosuchtag", oci.ErrNotFound},
		{host + "/foreign:v1", oci.ErrUnsupportedMediaType},
		{host + "/zip:v1", oci.ErrUnsupportedMediaType},
		{host + "/hostile:v1", oci.ErrUnsafePath},
	}
	for _, c := range cases {
		t.Run(c.ref[len(host)+1:], func(t *testing.T) {
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = Image(ctxT(t), st, c.ref)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			imgs, _ := st.Images()
			for _, d := range []string{"layers", "tmp", "blobs/sha256"} {
				ents, _ := os.ReadDir(filepath.Join(st.Root(), d))
				if len(ents) != 0 {
					t.Errorf("%s not empty after a failed pull: %v", d, ents)
				}
			}
			if len(imgs) != 0 {
				t.Errorf("index has %v", imgs)
			}
		})
	}
}

func TestPullPlatformIndex(t *testing.T) {
	host := memRegistry(t, nil)
	amd := image(t, true, newLayer(t, tarOf(t, "arch", "amd64"), types.OCILayer))
	arm := image(t, true, newLayer(t, tarOf(t, "arch", "arm64"), types.OCILayer))
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	r, _ := name.ParseReference(host + "/multi:v1")
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		st, _ := store.Open(t.TempDir())
		res, err := Image(ctxT(t), st, host+"/multi:v1", WithPlatform(v1.Platform{OS: "linux", Architecture: arch}))
		if err != nil {
			t.Fatal(err)
		}
		dirs, _, _ := st.LayerDirs(res.Descriptor.Digest)
		if b, _ := os.ReadFile(filepath.Join(dirs[0], "arch")); string(b) != arch {
			t.Errorf("platform %s got %q", arch, b)
		}
	}
	st, _ := store.Open(t.TempDir())
	if _, err := Image(ctxT(t), st, host+"/multi:v1", WithPlatform(v1.Platform{OS: "linux", Architecture: "s390x"})); err == nil {
		t.Errorf("pull for a missing platform succeeded")
	}
}

// TestPullDockerRegistry pulls from Debian's docker-registry (distribution).
func TestPullDockerRegistry(t *testing.T) {
	addr := registrytest.Start(t)
	push(t, addr+"/demo/app:v1", image(t, false, newLayer(t, base, types.DockerLayer), newLayer(t, upper, types.DockerLayer)))
	st, _ := store.Open(t.TempDir())
	res, err := Image(ctxT(t), st, addr+"/demo/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if res.Fetched != 2 {
		t.Errorf("%+v", res)
	}
	if _, err := Image(ctxT(t), st, addr+"/demo/nope:v1"); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("unknown repo: %v", err)
	}
}

// TestPullUnreachable: a registry nobody listens on is one ErrUnreachable.
func TestPullUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	st, _ := store.Open(t.TempDir())
	_, err = Image(ctxT(t), st, addr+"/demo/app:v1")
	if !errors.Is(err, oci.ErrUnreachable) || strings.Count(err.Error(), "connection refused") != 1 {
		t.Fatalf("err = %v, want one ErrUnreachable", err)
	}
}
