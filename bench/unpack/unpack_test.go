package unpack

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestLayerOf(t *testing.T) {
	tests := []struct {
		name, rel string
		want      int
	}{
		{"etc", "etc/passwd", 0},
		{"usr itself", "usr/", 0},
		{"usr/bin", "usr/bin/python3", 0},
		{"usr/lib entry", "usr/lib/x86_64-linux-gnu/libc.so.6", 1},
		{"usr/share entry", "usr/share/doc/", 2},
		{"usr/libexec is not usr/lib", "usr/libexec/x", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := layerOf(tc.rel); got != tc.want {
				t.Errorf("layerOf(%q) = %d, want %d", tc.rel, got, tc.want)
			}
		})
	}
}

// TestWriteImage: the layout of a generated tree is one that
// go-containerregistry reads and verifies, and the oci/layer unpack of it
// reproduces every entry.
func TestWriteImage(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := generateTree(tree, 300); err != nil {
		t.Fatal(err)
	}
	img, err := writeImage(tree, filepath.Join(dir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 3 {
		t.Fatalf("%d layers, want 3", len(img.Layers))
	}
	idx, err := layout.ImageIndexFromPath(img.Layout)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != refName {
		t.Fatalf("index %+v %v", im, err)
	}
	h, _ := v1.NewHash(im.Manifests[0].Digest.String())
	image, err := idx.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		d, _ := l.Digest()
		if d.String() != img.Layers[i].Digest.String() {
			t.Errorf("layer %d digest %s, want %s", i, d, img.Layers[i].Digest)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out := filepath.Join(dir, "out")
	if err := runUnpack(ctx, img, out); err != nil {
		t.Fatal(err)
	}
	// Every tree entry is in some layer directory (upper layers repeat parents).
	err = filepath.WalkDir(tree, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		for i := range img.Layers {
			if _, err := os.Lstat(filepath.Join(out, string(rune('0'+i)), rel)); err == nil {
				return nil
			}
		}
		t.Errorf("%s is in no unpacked layer", rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		ts   []time.Duration
		want time.Duration
	}{
		{"none", nil, 0},
		{"odd", []time.Duration{3, 1, 2}, 2},
		{"even", []time.Duration{4, 1, 3, 2}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Result{Times: map[string][]time.Duration{Umoci: tc.ts}}
			if got := r.Median(Umoci); got != tc.want {
				t.Errorf("median = %v, want %v", got, tc.want)
			}
		})
	}
}
