package archive

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci"
)

// TestLoadErrors feeds broken inputs to Load: each must fail with a clear,
// matchable error and leave the store without images (and, when the damage
// is found before unpacking, without any content).
func TestLoadErrors(t *testing.T) {
	img := testImage(t, true)
	const ref = "localhost:5000/bad:v1"
	layoutWith := func(t *testing.T, damage func(dir string, m *v1.Manifest)) string {
		dir := makeLayout(t, []v1.Image{img}, []string{ref})
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		damage(dir, m)
		return dir
	}
	blob := func(dir string, h v1.Hash) string { return filepath.Join(dir, "blobs", h.Algorithm, h.Hex) }
	flipByte := func(t *testing.T, p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		os.WriteFile(p, b, 0o644)
	}
	truncate := func(t *testing.T, p string) string {
		b, _ := os.ReadFile(p)
		out := filepath.Join(t.TempDir(), "truncated.tar")
		os.WriteFile(out, b[:len(b)*2/3], 0o644)
		return out
	}
	file := func(t *testing.T, content string) string {
		p := filepath.Join(t.TempDir(), "input")
		os.WriteFile(p, []byte(content), 0o644)
		return p
	}
	for _, tc := range []struct {
		name    string
		input   func(t *testing.T) string
		want    error
		content bool // content may remain (found while unpacking); never an image
	}{
		{"not an archive", func(t *testing.T) string { return file(t, "hello, this is text\n") }, ErrNotArchive, false},
		{"empty file", func(t *testing.T) string { return file(t, "") }, ErrNotArchive, false},
		{"missing path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, fs.ErrNotExist, false},
		{"tar without an image", func(t *testing.T) string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, "readme"), []byte("hi"), 0o644)
			return tarDir(t, d)
		}, ErrNotArchive, false},
		{"empty directory", func(t *testing.T) string { return t.TempDir() }, ErrNotArchive, false},
		{"gzip of garbage", func(t *testing.T) string { return file(t, "\x1f\x8b\x08\x00garbage") }, ErrNotArchive, false},
		{"truncated oci-archive", func(t *testing.T) string {
			return truncate(t, tarDir(t, makeLayout(t, []v1.Image{img}, []string{ref})))
		}, ErrNotArchive, false},
		{"truncated docker save", func(t *testing.T) string { return truncate(t, writeDockerSave(t, map[string]v1.Image{ref: img})) }, ErrNotArchive, false},
		{"missing layer blob", func(t *testing.T) string {
			return layoutWith(t, func(dir string, m *v1.Manifest) { os.Remove(blob(dir, m.Layers[1].Digest)) })
		}, fs.ErrNotExist, false},
		{"missing config blob", func(t *testing.T) string {
			return layoutWith(t, func(dir string, m *v1.Manifest) { os.Remove(blob(dir, m.Config.Digest)) })
		}, fs.ErrNotExist, false},
		{"wrong layer digest", func(t *testing.T) string {
			return layoutWith(t, func(dir string, m *v1.Manifest) { flipByte(t, blob(dir, m.Layers[1].Digest)) })
		}, oci.ErrDigestMismatch, false},
		{"wrong manifest digest", func(t *testing.T) string {
			d, _ := img.Digest()
			return layoutWith(t, func(dir string, _ *v1.Manifest) { flipByte(t, blob(dir, d)) })
		}, oci.ErrDigestMismatch, false},
		{"wrong config digest in docker save", func(t *testing.T) string {
			p := oldDockerSave(t, img, ref)
			cd, _ := img.ConfigName()
			return rewriteTar(t, p, cd.Hex+".json", func(b []byte) []byte { return []byte(strings.Replace(string(b), "/bin/sh", "/bin/xx", 1)) })
		}, oci.ErrDigestMismatch, false},
		{"wrong diff_id in docker save", func(t *testing.T) string {
			p := oldDockerSave(t, img, ref)
			return rewriteTar(t, p, "b0000layerid/layer.tar", func([]byte) []byte { return tarOf(t, "evil", "not the layer") })
		}, oci.ErrDigestMismatch, true},
		{"index.json garbage", func(t *testing.T) string {
			return layoutWith(t, func(dir string, _ *v1.Manifest) { os.WriteFile(filepath.Join(dir, "index.json"), []byte("{"), 0o644) })
		}, oci.ErrMalformedManifest, false},
		{"manifest.json garbage", func(t *testing.T) string {
			return rewriteTar(t, oldDockerSave(t, img, ref), "manifest.json", func([]byte) []byte { return []byte("[{]") })
		}, oci.ErrMalformedManifest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			_, err := Load(ctxT(t), st, tc.input(t))
			if err == nil || !errors.Is(err, tc.want) {
				t.Fatalf("Load = %v, want %v", err, tc.want)
			}
			t.Logf("error: %v", err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if tc.content {
				if imgs, _ := st.Images(); len(imgs) != 0 {
					t.Errorf("images = %v, want none", imgs)
				}
				return
			}
			storeIsEmpty(t, st)
		})
	}
}
