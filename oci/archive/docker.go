package archive

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/ingest"
	"github.com/lamina-dev/lamina/oci/layer"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// dockerEntry is one image of a docker save archive's manifest.json.
type dockerEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// readDockerManifest parses manifest.json, if src has one.
func readDockerManifest(src source) ([]dockerEntry, error) {
	b, err := readFile(src, "manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []dockerEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("parse manifest.json: %w: %v", oci.ErrMalformedManifest, err)
	}
	return entries, nil
}

// dockerRefs normalises an entry's RepoTags.
func dockerRefs(e dockerEntry) ([]string, error) {
	var refs []string
	for _, t := range e.RepoTags {
		r, err := store.NormalizeRef(t)
		if err != nil {
			return nil, fmt.Errorf("read manifest.json: RepoTags: %w", err)
		}
		refs = append(refs, r)
	}
	return refs, nil
}

// readDocker reads the images of a docker save archive (manifest.json plus
// config and layer files). The archive has no image manifests: lamina
// writes an OCI manifest for each image, whose layers are the archive's
// layer files as they are (tar, or tar+gzip / tar+zstd when compressed).
// Every file is hashed here; a file named by its digest
// ("blobs/sha256/<hex>", "<hex>.json") must have that digest.
func readDocker(src source, entries []dockerEntry) ([]*image, error) {
	var out []*image
	for i, e := range entries {
		refs, err := dockerRefs(e)
		if err != nil {
			return nil, err
		}
		cfg, err := readFile(src, clean(e.Config))
		if err != nil {
			return nil, fmt.Errorf("read manifest.json entry %d: %w", i, err)
		}
		cdig := digest.FromBytes(cfg)
		if err := checkNamedDigest(e.Config, cdig); err != nil {
			return nil, err
		}
		var c ispec.Image
		if err := json.Unmarshal(cfg, &c); err != nil {
			return nil, fmt.Errorf("parse config %s: %w: %v", e.Config, oci.ErrMalformedManifest, err)
		}
		if len(c.RootFS.DiffIDs) != len(e.Layers) {
			return nil, fmt.Errorf("read manifest.json entry %d: %d layers but %d diff_ids: %w", i, len(e.Layers), len(c.RootFS.DiffIDs), oci.ErrMalformedManifest)
		}
		m := ispec.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2},
			MediaType: ispec.MediaTypeImageManifest,
			Config:    ispec.Descriptor{MediaType: ispec.MediaTypeImageConfig, Digest: cdig, Size: int64(len(cfg))},
			Layers:    []ispec.Descriptor{},
		}
		files := map[digest.Digest]string{}
		for _, name := range e.Layers {
			name = clean(name)
			d, size, err := hashFile(src, name)
			if err != nil {
				return nil, err
			}
			if err := checkNamedDigest(name, d); err != nil {
				return nil, err
			}
			mt, err := layerMediaType(src, name)
			if err != nil {
				return nil, err
			}
			m.Layers = append(m.Layers, ispec.Descriptor{MediaType: mt, Digest: d, Size: size})
			files[d] = name
		}
		raw, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("write manifest: %w", err)
		}
		out = append(out, &image{
			in:     ingest.Image{Manifest: raw, Config: cfg, Refs: refs},
			layers: m.Layers, files: files, hashed: true,
		})
	}
	return out, nil
}

func clean(name string) string { return path.Clean(strings.TrimPrefix(name, "./")) }

// checkNamedDigest checks a file whose name carries a sha256 hex (the
// layout form "blobs/sha256/<hex>", or "<hex>.json" of older docker
// configs) against d. Other names (such as "<id>/layer.tar", where the id
// is not a content digest) are not checked here.
func checkNamedDigest(name string, d digest.Digest) error {
	hex := ""
	switch {
	case strings.HasPrefix(clean(name), "blobs/sha256/"):
		hex = strings.TrimPrefix(clean(name), "blobs/sha256/")
	case strings.HasSuffix(name, ".json") && !strings.Contains(name, "/"):
		hex = strings.TrimSuffix(name, ".json")
	default:
		return nil
	}
	want := digest.NewDigestFromEncoded(digest.SHA256, hex)
	if want.Validate() != nil {
		return nil
	}
	if want != d {
		return &oci.DigestError{What: "blob " + name, Want: want.String(), Got: d.String()}
	}
	return nil
}

// layerMediaType tells a plain layer tar from a compressed one by its first
// bytes.
func layerMediaType(src source, name string) (string, error) {
	rc, _, err := src.open(name)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(rc, head)
	c, err := sniffBytes(head[:n])
	if err != nil {
		c = layer.Uncompressed // a tar too short for its magic: the diff_id check decides
	}
	switch c {
	case layer.Gzip:
		return ispec.MediaTypeImageLayerGzip, nil
	case layer.Zstd:
		return ispec.MediaTypeImageLayerZstd, nil
	}
	return ispec.MediaTypeImageLayer, nil
}
