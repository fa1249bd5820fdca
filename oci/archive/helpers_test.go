package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// tarOf builds a layer tar from name → content pairs; a name ending in "/"
// is a directory, a content "-> T" a symlink to T.
func tarOf(t testing.TB, files ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		n, c := files[i], files[i+1]
		h := &tar.Header{Name: n, Mode: 0o644, ModTime: time.Unix(1700000000, 0), Typeflag: tar.TypeReg, Size: int64(len(c))}
		switch {
		case n[len(n)-1] == '/':
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case len(c) > 3 && c[:3] == "-> ":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, c[3:], 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(c))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var (
	baseTar = func(t testing.TB) []byte {
		return tarOf(t, "etc/", "", "etc/hosts", "127.0.0.1 localhost\n", "bin/", "", "bin/sh", "-> busybox", "gone", "bye")
	}
	upperTar = func(t testing.TB) []byte { return tarOf(t, ".wh.gone", "", "etc/", "", "etc/motd", "hello\n") }
)

// testImage builds a two-layer image for the host platform; oci selects OCI
// media types (else Docker's). Layers are gzip-compressed.
func testImage(t testing.TB, oci bool, layers ...[]byte) v1.Image {
	t.Helper()
	if len(layers) == 0 {
		layers = [][]byte{baseTar(t), upperTar(t)}
	}
	img := empty.Image
	if oci {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	for _, raw := range layers {
		opts := []tarball.LayerOption{}
		if oci {
			opts = append(opts, tarball.WithMediaType(types.OCILayer))
		}
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil }, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Cmd = []string{"/bin/sh"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// makeLayout writes images to a new OCI layout directory; refs[i] (if not
// "") becomes image i's org.opencontainers.image.ref.name.
func makeLayout(t testing.TB, imgs []v1.Image, refs []string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		var opts []layout.Option
		if i < len(refs) && refs[i] != "" {
			opts = append(opts, layout.WithAnnotations(map[string]string{ispec.AnnotationRefName: refs[i]}))
		}
		if err := p.AppendImage(img, opts...); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tarDir packs dir's files into a new tar file, names relative to dir.
func tarDir(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "archive.tar")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tw.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeDockerSave writes images as go-containerregistry's docker save
// tarball (gzip layers named <digest>.tar.gz), ref → image.
func writeDockerSave(t testing.TB, imgs map[string]v1.Image) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "docker.tar")
	m := map[name.Tag]v1.Image{}
	for r, img := range imgs {
		tag, err := name.NewTag(r)
		if err != nil {
			t.Fatal(err)
		}
		m[tag] = img
	}
	if err := tarball.MultiWriteToFile(out, m); err != nil {
		t.Fatal(err)
	}
	return out
}

func newStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// diffIDs returns the diff_ids of the image ref in st.
func diffIDs(t *testing.T, st *store.Store, ref string) []string {
	t.Helper()
	im, err := st.Resolve(ref)
	if err != nil {
		t.Fatalf("resolve %s: %v", ref, err)
	}
	_, ids, err := st.LayerDirs(im.Descriptor.Digest)
	if err != nil {
		t.Fatalf("layers of %s: %v", ref, err)
	}
	var out []string
	for _, d := range ids {
		out = append(out, d.String())
	}
	return out
}

func imgDiffIDs(t *testing.T, img v1.Image) []string {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range cf.RootFS.DiffIDs {
		out = append(out, h.String())
	}
	return out
}

func digestOf(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// storeIsEmpty fails unless st has no image, blob or layer.
func storeIsEmpty(t *testing.T, st *store.Store) {
	t.Helper()
	imgs, err := st.Images()
	if err != nil || len(imgs) != 0 {
		t.Errorf("images = %v, %v; want none", imgs, err)
	}
	for _, d := range []string{"blobs/sha256", "layers"} {
		ents, _ := os.ReadDir(filepath.Join(st.Root(), d))
		if len(ents) != 0 {
			t.Errorf("%s holds %d entries; want none", d, len(ents))
		}
	}
}

// rewriteTar copies the tar file p with the content of member name passed
// through f.
func rewriteTar(t testing.TB, p, member string, f func([]byte) []byte) string {
	t.Helper()
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(in), tar.NewWriter(&buf)
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if h.Name == member {
			b, found = f(b), true
			h.Size = int64(len(b))
		}
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	if !found {
		t.Fatalf("%s has no member %s", p, member)
	}
	out := filepath.Join(t.TempDir(), "rewritten.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

type storeT = store.Store

func digestT(h v1.Hash) digest.Digest { return digest.Digest(h.String()) }
