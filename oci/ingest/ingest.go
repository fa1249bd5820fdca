package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/layer"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/whiteout"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Image is one image to write: its manifest and config exactly as they
// will be stored, and what to record in index.json.
type Image struct {
	Manifest []byte          // raw image manifest (OCI or Docker schema 2)
	Config   []byte          // raw config; must have the manifest's config digest
	Platform *ispec.Platform // recorded in index.json when chosen from an index
	Refs     []string        // normalised refs to point at the image (may be empty)
}

// BlobOpener opens the layer blob desc for reading. Write checks what it
// reads against desc's digest and size; the opener need not.
type BlobOpener func(ctx context.Context, desc ispec.Descriptor) (io.ReadCloser, error)

// Result describes a written image.
type Result struct {
	Descriptor ispec.Descriptor // the image manifest, as recorded in index.json
	Fetched    int              // layers read and unpacked
	Existing   int              // layers that were already stored
}

// Write stores img in st, reading layers through open, and points every
// ref of img.Refs at it. It first makes Check's checks. It holds the store's shared lock throughout, so a
// concurrent GC cannot remove what it writes before the refs exist. Errors
// wrap oci.ErrDigestMismatch, oci.ErrUnsupportedMediaType,
// oci.ErrMalformedManifest, oci.ErrMalformedLayer, oci.ErrUnsafePath or
// oci.ErrTooLarge, or are the opener's; on error no ref is added.
func Write(ctx context.Context, st *store.Store, img Image, open BlobOpener, opts ...Option) (*Result, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	c, err := check(img)
	if err != nil {
		return nil, err
	}
	m, mt, cfg, comps := c.manifest, c.mediaType, &c.config, c.comps

	unlock, err := st.LockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	wh, err := whiteout.NewWriter(st.TempDir())
	if err != nil {
		return nil, fmt.Errorf("write image: %w", err)
	}
	res := &Result{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	// Every layer's state first (existing or waiting), so that a progress
	// display has all its lines from the start.
	fetch := make([]bool, len(m.Layers))
	for i, l := range m.Layers {
		diffID := cfg.RootFS.DiffIDs[i]
		ev := oci.Progress{Digest: l.Digest.String(), DiffID: diffID.String(), Status: oci.StatusWaiting, Total: l.Size}
		if st.HasLayer(diffID) && st.HasBlob(l.Digest) {
			ev.Status = oci.StatusExists
			res.Existing++
		} else {
			fetch[i] = true
		}
		o.progress(ev)
	}
	for i, l := range m.Layers {
		if !fetch[i] {
			continue
		}
		diffID := cfg.RootFS.DiffIDs[i]
		g.Go(func() error {
			w := layerWriter{st: st, o: &o, wh: wh, open: open}
			if err := w.write(gctx, l, diffID, comps[i]); err != nil {
				return fmt.Errorf("layer %s: %w", l.Digest, err)
			}
			mu.Lock()
			res.Fetched++
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := st.PutBlob(m.Config.Digest, img.Config); err != nil {
		return nil, err
	}
	mdig := digest.FromBytes(img.Manifest)
	if err := st.PutBlob(mdig, img.Manifest); err != nil {
		return nil, err
	}
	res.Descriptor = ispec.Descriptor{MediaType: mt, Digest: mdig, Size: int64(len(img.Manifest)), Platform: img.Platform}
	if err := st.TagAll(img.Refs, res.Descriptor); err != nil {
		return nil, err
	}
	return res, nil
}

// Check runs every check Write makes on img before it writes anything:
// the manifest (ParseManifest: media type, bounds such as oci.MaxLayers,
// digests), the config's digest and JSON, one sha256 diff_id per layer and
// a supported media type and sha256 digest for every layer. A caller
// writing several images (oci/archive's Load) checks them all first, so
// that a malformed image stores nothing of the others. Errors wrap
// oci.ErrDigestMismatch, oci.ErrUnsupportedMediaType,
// oci.ErrMalformedManifest or oci.ErrTooLarge.
func Check(img Image) error {
	_, err := check(img)
	return err
}

// checked is an image that passed check, parsed.
type checked struct {
	manifest  *ispec.Manifest
	mediaType string
	config    ispec.Image
	comps     []layer.Compression // each layer's compression
}

func check(img Image) (*checked, error) {
	m, mt, err := ParseManifest(img.Manifest)
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(img.Config); got != m.Config.Digest {
		return nil, &oci.DigestError{What: "config", Want: m.Config.Digest.String(), Got: got.String()}
	}
	c := &checked{manifest: m, mediaType: mt}
	if err := json.Unmarshal(img.Config, &c.config); err != nil {
		return nil, fmt.Errorf("parse config: %w: %v", oci.ErrMalformedManifest, err)
	}
	if c.comps, err = checkLayers(m, &c.config); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseManifest checks that raw is an OCI or Docker schema 2 image manifest
// within lamina's bounds (oci.MaxConfigSize, oci.MaxLayers; digests valid,
// sizes not negative) and returns it with its media type. Errors wrap
// oci.ErrMalformedManifest, oci.ErrUnsupportedMediaType or oci.ErrTooLarge.
func ParseManifest(raw []byte) (*ispec.Manifest, string, error) {
	var m ispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("%w: %v", oci.ErrMalformedManifest, err)
	}
	if m.SchemaVersion != 2 {
		return nil, "", fmt.Errorf("%w: schemaVersion %d", oci.ErrUnsupportedMediaType, m.SchemaVersion)
	}
	mt := m.MediaType
	if mt == "" {
		mt = ispec.MediaTypeImageManifest
	}
	switch mt {
	case ispec.MediaTypeImageManifest, MediaTypeDockerManifest:
	default:
		return nil, "", fmt.Errorf("manifest media type %q: %w", mt, oci.ErrUnsupportedMediaType)
	}
	if err := m.Config.Digest.Validate(); err != nil {
		return nil, "", fmt.Errorf("%w: config digest: %v", oci.ErrMalformedManifest, err)
	}
	if m.Config.Size <= 0 || m.Config.Size > oci.MaxConfigSize {
		return nil, "", fmt.Errorf("config size %d: %w (allowed: 1 to %d bytes)", m.Config.Size, oci.ErrTooLarge, oci.MaxConfigSize)
	}
	if len(m.Layers) > oci.MaxLayers {
		return nil, "", fmt.Errorf("%d layers: %w (at most %d)", len(m.Layers), oci.ErrTooLarge, oci.MaxLayers)
	}
	for i, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, "", fmt.Errorf("%w: layers[%d] digest: %v", oci.ErrMalformedManifest, i, err)
		}
		if l.Size < 0 {
			return nil, "", fmt.Errorf("%w: layers[%d] size %d", oci.ErrMalformedManifest, i, l.Size)
		}
	}
	return &m, mt, nil
}

// MediaTypeDockerManifest is the Docker schema 2 image manifest media type.
const MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

// checkLayers checks the manifest's layer descriptors against the config's
// diff_ids and returns each layer's compression.
func checkLayers(m *ispec.Manifest, cfg *ispec.Image) ([]layer.Compression, error) {
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("check image: %d layers but %d diff_ids: %w", len(m.Layers), len(cfg.RootFS.DiffIDs), oci.ErrMalformedManifest)
	}
	comps := make([]layer.Compression, len(m.Layers))
	for i, l := range m.Layers {
		var err error
		if comps[i], err = layer.CompressionOf(l.MediaType); err != nil {
			return nil, fmt.Errorf("check layer %s: %w", l.Digest, err)
		}
		if err := l.Digest.Validate(); err != nil || l.Digest.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("check layer digest %q: %w", l.Digest, oci.ErrMalformedManifest)
		}
		if err := cfg.RootFS.DiffIDs[i].Validate(); err != nil || cfg.RootFS.DiffIDs[i].Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("check diff_id %q: %w", cfg.RootFS.DiffIDs[i], oci.ErrMalformedManifest)
		}
		if l.Size < 0 {
			return nil, fmt.Errorf("check layer %s: size %d: %w", l.Digest, l.Size, oci.ErrMalformedManifest)
		}
	}
	return comps, nil
}
