package archive

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci"
)

// loadedStore returns a store holding img (gzip layers) as ref, and one
// more image sharing its base layer as ref2.
func loadedStore(t *testing.T, ref, ref2 string) (*storeT, v1.Image, v1.Image) {
	t.Helper()
	img := testImage(t, true)
	img2 := testImage(t, true, baseTar(t), tarOf(t, "extra/", "", "extra/x", "x"))
	st := newStore(t)
	if _, err := Load(ctxT(t), st, makeLayout(t, []v1.Image{img, img2}, []string{ref, ref2})); err != nil {
		t.Fatal(err)
	}
	return st, img, img2
}

// TestSaveRoundTrip saves images in every format and loads the result into
// a fresh store: same refs and diff_ids, and for OCI formats the same
// manifest digests.
func TestSaveRoundTrip(t *testing.T) {
	const ref, ref2 = "localhost:5000/save:v1", "localhost:5000/save2:v1"
	st, img, img2 := loadedStore(t, ref, ref2)
	for _, tc := range []struct {
		format     Format
		stdout     bool
		sameDigest bool
	}{
		{FormatOCI, false, true},
		{FormatOCIArchive, false, true},
		{FormatOCIArchive, true, true},
		{FormatDockerArchive, false, false},
		{FormatDockerArchive, true, false},
	} {
		name := string(tc.format)
		if tc.stdout {
			name += " to stdout"
		}
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			path := out
			var buf bytes.Buffer
			if tc.stdout {
				path = "-"
			}
			if err := Save(ctxT(t), st, []string{ref, ref2, ref}, tc.format, path, WithStdout(&buf)); err != nil {
				t.Fatalf("Save: %v", err)
			}
			if tc.stdout {
				if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".out-*"))
			if len(leftovers) != 0 {
				t.Errorf("temporary output left: %v", leftovers)
			}
			st2 := newStore(t)
			loaded, err := Load(ctxT(t), st2, out)
			if err != nil {
				t.Fatalf("Load of the saved archive: %v", err)
			}
			if len(loaded) != 2 {
				t.Fatalf("loaded %d images, want 2", len(loaded))
			}
			for _, c := range []struct {
				ref string
				img v1.Image
			}{{ref, img}, {ref2, img2}} {
				if g, w := diffIDs(t, st2, c.ref), imgDiffIDs(t, c.img); !slices.Equal(g, w) {
					t.Errorf("%s: diff_ids %v, want %v", c.ref, g, w)
				}
				im, _ := st2.Resolve(c.ref)
				if tc.sameDigest && im.Descriptor.Digest.String() != digestOf(t, c.img) {
					t.Errorf("%s: digest %s, want %s", c.ref, im.Descriptor.Digest, digestOf(t, c.img))
				}
			}
		})
	}
}

// TestSaveErrors covers bad requests and a corrupt store blob.
func TestSaveErrors(t *testing.T) {
	const ref = "localhost:5000/save:v1"
	st, img, _ := loadedStore(t, ref, "localhost:5000/other:v1")
	exists := t.TempDir()
	if err := Save(ctxT(t), st, []string{"nope:v1"}, FormatOCI, filepath.Join(t.TempDir(), "o")); !errors.Is(err, oci.ErrNotFound) {
		t.Errorf("unknown ref: %v, want ErrNotFound", err)
	}
	if err := Save(ctxT(t), st, []string{ref}, FormatOCI, exists); err == nil {
		t.Errorf("existing output: no error")
	}
	if err := Save(ctxT(t), st, []string{ref}, FormatOCI, "-"); err == nil {
		t.Errorf("oci to stdout: no error")
	}
	if _, err := ParseFormat("tarball"); err == nil {
		t.Errorf("ParseFormat(tarball): no error")
	}
	m, _ := img.Manifest()
	p := st.BlobPath(digestT(m.Layers[0].Digest))
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []Format{FormatOCI, FormatOCIArchive, FormatDockerArchive} {
		out := filepath.Join(t.TempDir(), "o")
		if err := Save(ctxT(t), st, []string{ref}, f, out); !errors.Is(err, oci.ErrDigestMismatch) {
			t.Errorf("%s with a corrupt blob: %v, want ErrDigestMismatch", f, err)
		}
		if _, err := os.Lstat(out); err == nil {
			t.Errorf("%s with a corrupt blob: %s was written", f, out)
		}
	}
}

// TestSaveOutputAppearsMeanwhile creates the output path while the archive
// is being written: publishing must fail and leave what appeared untouched.
func TestSaveOutputAppearsMeanwhile(t *testing.T) {
	for _, f := range []Format{FormatOCI, FormatOCIArchive, FormatDockerArchive} {
		t.Run(string(f), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "o")
			err := output(out, f, nil, func(s sink) error {
				if err := putBytes(s, "oci-layout", []byte("{}")); err != nil {
					return err
				}
				if f == FormatOCI {
					return os.Mkdir(out, 0o755)
				}
				return os.WriteFile(out, []byte("precious"), 0o644)
			})
			if err == nil || !strings.Contains(err.Error(), out+" exists") {
				t.Fatalf("output = %v, want an error saying %s exists", err, out)
			}
			if f == FormatOCI {
				if ents, err := os.ReadDir(out); err != nil || len(ents) != 0 {
					t.Errorf("%s: entries %v, %v; want the empty directory kept", out, ents, err)
				}
				return
			}
			if b, err := os.ReadFile(out); err != nil || string(b) != "precious" {
				t.Errorf("%s = %q, %v; want it untouched", out, b, err)
			}
		})
	}
}
