package unpack

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// refName is the image's name inside the layout (its index.json annotation).
const refName = "bench"

// layerSplit assigns a tree path to a layer, bottom first: everything else,
// then usr/lib, then usr/share.
var layerSplit = []string{"", "usr/lib/", "usr/share/"}

func layerOf(rel string) int {
	for i := len(layerSplit) - 1; i > 0; i-- {
		if strings.HasPrefix(rel, layerSplit[i]) {
			return i
		}
	}
	return 0
}

// Layer is one gzip layer of the image.
type Layer struct {
	Blob    string // path of the blob file in the layout
	Digest  digest.Digest
	DiffID  digest.Digest
	Size    int64 // compressed
	Entries int   // tar entries
}

// Image is the benchmark image written as an OCI layout.
type Image struct {
	Layout   string // the OCI layout directory
	Layers   []Layer
	Entries  int   // entries in the tree, its root excluded
	Bytes    int64 // regular file bytes in the tree
	Manifest []byte
	Config   []byte
}

// writeImage splits tree into layers and writes them as an OCI layout at dir.
func writeImage(tree, dir string) (*Image, error) {
	img := &Image{Layout: dir}
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return nil, fmt.Errorf("create layout: %w", err)
	}
	// One walk, entries grouped per layer in walk order (parents first).
	per := make([][]string, len(layerSplit))
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		if rel == "." {
			return nil
		}
		img.Entries++
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				img.Bytes += fi.Size()
			}
		}
		key := rel
		if d.IsDir() {
			key += "/"
		}
		i := layerOf(key)
		if d.IsDir() && i > 0 && key == layerSplit[i] {
			i = 0 // usr/lib itself lives in the base layer
		}
		per[i] = append(per[i], rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", tree, err)
	}
	for i, rels := range per {
		// Upper layers repeat their parent directories (usr, usr/lib).
		var parents []string
		if i > 0 {
			top := strings.TrimSuffix(layerSplit[i], "/")
			for p := top; p != "."; p = filepath.Dir(p) {
				parents = append([]string{p}, parents...)
			}
		}
		l, err := writeLayer(tree, blobs, append(parents, rels...))
		if err != nil {
			return nil, err
		}
		img.Layers = append(img.Layers, l)
	}
	return img, writeLayout(img, dir)
}

// writeLayer writes the entries rels of tree as a gzip tar blob in blobs.
func writeLayer(tree, blobs string, rels []string) (Layer, error) {
	f, err := os.CreateTemp(blobs, "layer-")
	if err != nil {
		return Layer{}, fmt.Errorf("create layer blob: %w", err)
	}
	defer f.Close()
	blobHash, diffHash := sha256.New(), sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, blobHash)}
	zw := gzip.NewWriter(cw)
	tw := tar.NewWriter(io.MultiWriter(zw, diffHash))
	links := map[[2]uint64]string{} // (dev, ino) → first name, for hard links
	for _, rel := range rels {
		if err := addEntry(tw, tree, rel, links); err != nil {
			return Layer{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return Layer{}, fmt.Errorf("write layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return Layer{}, fmt.Errorf("write layer: %w", err)
	}
	l := Layer{
		Digest:  digest.NewDigestFromBytes(digest.SHA256, blobHash.Sum(nil)),
		DiffID:  digest.NewDigestFromBytes(digest.SHA256, diffHash.Sum(nil)),
		Size:    cw.n,
		Entries: len(rels),
	}
	l.Blob = filepath.Join(blobs, l.Digest.Encoded())
	if err := f.Sync(); err != nil {
		return Layer{}, fmt.Errorf("write layer: %w", err)
	}
	if err := os.Rename(f.Name(), l.Blob); err != nil {
		return Layer{}, fmt.Errorf("write layer: %w", err)
	}
	return l, nil
}

func addEntry(tw *tar.Writer, tree, rel string, links map[[2]uint64]string) error {
	p := filepath.Join(tree, rel)
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("add %s: %w", rel, err)
	}
	var target string
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = os.Readlink(p); err != nil {
			return fmt.Errorf("add %s: %w", rel, err)
		}
	}
	h, err := tar.FileInfoHeader(fi, target)
	if err != nil {
		return fmt.Errorf("add %s: %w", rel, err)
	}
	h.Name = rel
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Format = tar.FormatPAX
	h.Uname, h.Gname = "", ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
		key := [2]uint64{uint64(st.Dev), st.Ino}
		if first, ok := links[key]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
		} else {
			links[key] = rel
		}
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("add %s: %w", rel, err)
	}
	if h.Typeflag == tar.TypeReg {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("add %s: %w", rel, err)
		}
		defer f.Close()
		if _, err := io.Copy(tw, f); err != nil {
			return fmt.Errorf("add %s: %w", rel, err)
		}
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// writeLayout writes the config, the manifest, index.json and oci-layout.
func writeLayout(img *Image, dir string) error {
	cfg := ispec.Image{
		Platform: ispec.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Config:   ispec.ImageConfig{Cmd: []string{"/bin/sh"}},
		RootFS:   ispec.RootFS{Type: "layers"},
	}
	m := ispec.Manifest{MediaType: ispec.MediaTypeImageManifest}
	m.SchemaVersion = 2
	for _, l := range img.Layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.DiffID)
		m.Layers = append(m.Layers, ispec.Descriptor{MediaType: ispec.MediaTypeImageLayerGzip, Digest: l.Digest, Size: l.Size})
	}
	var err error
	if img.Config, err = json.Marshal(cfg); err != nil {
		return err
	}
	m.Config = ispec.Descriptor{MediaType: ispec.MediaTypeImageConfig, Digest: digest.FromBytes(img.Config), Size: int64(len(img.Config))}
	if img.Manifest, err = json.Marshal(m); err != nil {
		return err
	}
	md := ispec.Descriptor{
		MediaType:   ispec.MediaTypeImageManifest,
		Digest:      digest.FromBytes(img.Manifest),
		Size:        int64(len(img.Manifest)),
		Annotations: map[string]string{ispec.AnnotationRefName: refName},
	}
	idx := ispec.Index{MediaType: ispec.MediaTypeImageIndex, Manifests: []ispec.Descriptor{md}}
	idx.SchemaVersion = 2
	ib, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		filepath.Join("blobs", "sha256", m.Config.Digest.Encoded()): img.Config,
		filepath.Join("blobs", "sha256", md.Digest.Encoded()):       img.Manifest,
		"index.json": ib,
		"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write layout: %w", err)
		}
	}
	return nil
}

// generateTree writes a tree of about n entries: directories, files of
// mixed sizes (most small, a few up to 2 MiB) with text-like content that
// gzip compresses about as well as real files, symlinks and hard links.
func generateTree(root string, n int) error {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor " +
		"incididunt ut labore et dolore magna aliqua 0x7f45 ELF libc.so.6 GLIBC_2.34 __stack_chk_fail")
	content := func(size int) []byte {
		b := make([]byte, 0, size+16)
		for len(b) < size {
			if rng.IntN(8) == 0 {
				b = append(b, byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()))
			}
			b = append(b, words[rng.IntN(len(words))]...)
			b = append(b, ' ')
		}
		return b[:size]
	}
	var files []string
	for i := 0; i < n; i++ {
		top := []string{"etc", "usr/bin", "usr/lib", "usr/share", "var/lib"}[rng.IntN(5)]
		dir := filepath.Join(root, top, fmt.Sprintf("d%03d", rng.IntN(n/25+1)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		p := filepath.Join(dir, fmt.Sprintf("f%05d", i))
		switch r := rng.IntN(100); {
		case r < 5 && len(files) > 0:
			t := files[rng.IntN(len(files))]
			rel, _ := filepath.Rel(dir, t)
			if err := os.Symlink(rel, p); err != nil {
				return err
			}
		case r < 7 && len(files) > 0:
			t := files[rng.IntN(len(files))]
			if layerOf(mustRel(root, t)) != layerOf(mustRel(root, p)) {
				continue // hard links stay inside one layer
			}
			if err := os.Link(t, p); err != nil {
				return err
			}
		default:
			size := rng.IntN(4 << 10)
			switch s := rng.IntN(100); {
			case s < 2:
				size = rng.IntN(2 << 20)
			case s < 25:
				size = rng.IntN(64 << 10)
			}
			if err := os.WriteFile(p, content(size), 0o644); err != nil {
				return err
			}
			files = append(files, p)
		}
	}
	return nil
}

func mustRel(root, p string) string {
	r, _ := filepath.Rel(root, p)
	return r
}
