package archive

import (
	"context"
	"fmt"
	"io"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/ingest"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Loaded describes one image Load stored.
type Loaded struct {
	Refs       []string         // the normalised refs now pointing at it
	Descriptor ispec.Descriptor // its manifest
	Fetched    int              // layers unpacked
	Existing   int              // layers already in the store
}

// Load imports every image of the archive at path ("-" reads WithStdin) into
// st: an OCI image layout directory, an OCI layout as a tar (oci-archive), or
// a docker save tarball (manifest.json, including the docker 25+ form with
// an OCI layout inside); tars may be gzip- or zstd-compressed. The format is
// found from the content, never the name. Every image must end up with a
// name: its own refs, or WithTag's for an archive of one image (else
// ErrNoName). All names, manifests, configs (ingest.Check, for every image)
// and layer digests are checked before anything is written, so an archive
// that is not readable, truncated, misses a blob, has a blob with the wrong
// digest or an image that ingest.Write would refuse (diff_ids not matching
// the layers, a layer media type or digest algorithm lamina does not
// support, too many layers) stores nothing; a layer
// whose diff_id is wrong is found while unpacking, and then that image gets
// no ref (verified layers already published stay, unreferenced, for GC);
// images of the archive loaded before it stay loaded and are returned with
// the error.
func Load(ctx context.Context, st *store.Store, path string, opts ...Option) ([]Loaded, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	if o.tag != "" {
		ref, err := store.NormalizeRef(o.tag)
		if err != nil {
			return nil, fmt.Errorf("load %s: --tag: %w", path, err)
		}
		o.tag = ref
	}
	src, err := openSource(path, o.stdin, st.TempDir())
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	defer src.Close()
	imgs, err := readImages(src, &o)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := nameImages(imgs, o.tag); err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	for _, im := range imgs {
		if err := ingest.Check(im.in); err != nil {
			return nil, fmt.Errorf("load %s: image %s: %w", path, digest.FromBytes(im.in.Manifest), err)
		}
	}
	for _, im := range imgs {
		if err := verifyLayers(ctx, src, im); err != nil {
			return nil, fmt.Errorf("load %s: %w", path, err)
		}
	}
	var out []Loaded
	for _, im := range imgs {
		res, err := ingest.Write(ctx, st, im.in, im.opener(src), o.ingest...)
		if err != nil {
			return out, fmt.Errorf("load %s: %w", path, err)
		}
		out = append(out, Loaded{Refs: im.in.Refs, Descriptor: res.Descriptor, Fetched: res.Fetched, Existing: res.Existing})
	}
	return out, nil
}

// readImages finds the archive's format and reads its images. An OCI layout
// wins over manifest.json (docker 25+ archives have both); manifest.json then
// only supplies names the layout lacks.
func readImages(src source, o *options) ([]*image, error) {
	switch {
	case src.has("oci-layout") && src.has("index.json"):
		imgs, err := readLayout(src, o.platform)
		if err != nil || !src.has("manifest.json") {
			return imgs, err
		}
		entries, err := readDockerManifest(src)
		if err != nil {
			return nil, err
		}
		return imgs, nameFromDocker(imgs, entries)
	case src.has("manifest.json"):
		entries, err := readDockerManifest(src)
		if err != nil {
			return nil, err
		}
		return readDocker(src, entries)
	}
	return nil, fmt.Errorf("read archive: %w: no oci-layout and index.json, no manifest.json", ErrNotArchive)
}

// nameFromDocker gives each unnamed layout image the RepoTags of the
// manifest.json entry with the same config.
func nameFromDocker(imgs []*image, entries []dockerEntry) error {
	for _, im := range imgs {
		if len(im.in.Refs) > 0 {
			continue
		}
		cdig := digest.FromBytes(im.in.Config)
		for _, e := range entries {
			if clean(e.Config) != blobName(cdig) {
				continue
			}
			refs, err := dockerRefs(e)
			if err != nil {
				return err
			}
			im.in.Refs = append(im.in.Refs, refs...)
		}
	}
	return nil
}

// nameImages applies tag (normalised) and checks that every image has a
// name.
func nameImages(imgs []*image, tag string) error {
	if len(imgs) == 0 {
		return fmt.Errorf("read archive: %w: it holds no image", ErrNotArchive)
	}
	if tag != "" {
		if len(imgs) != 1 {
			return fmt.Errorf("tag %s: the archive holds %d images, --tag names one: %w", tag, len(imgs), ErrNoName)
		}
		imgs[0].in.Refs = append(imgs[0].in.Refs, tag)
	}
	for _, im := range imgs {
		if len(im.in.Refs) == 0 {
			return fmt.Errorf("image %s: %w (give one with --tag)", digest.FromBytes(im.in.Manifest), ErrNoName)
		}
		im.in.Refs = dedupe(im.in.Refs)
	}
	return nil
}

func dedupe(refs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range refs {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// verifyLayers reads every layer file of im once and checks its digest and
// size, so that a missing, truncated or corrupt blob is found before
// anything is written.
func verifyLayers(ctx context.Context, src source, im *image) error {
	if im.hashed {
		return nil
	}
	for _, l := range im.layers {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, size, err := hashFile(src, im.files[l.Digest])
		if err != nil {
			return fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if d != l.Digest {
			return &oci.DigestError{What: "layer " + im.files[l.Digest], Want: l.Digest.String(), Got: d.String()}
		}
		if size != l.Size {
			return fmt.Errorf("layer %s: %d bytes, descriptor says %d: %w", l.Digest, size, l.Size, oci.ErrMalformedManifest)
		}
	}
	return nil
}

// opener reads im's layer files from src for ingest.Write.
func (im *image) opener(src source) ingest.BlobOpener {
	return func(_ context.Context, d ispec.Descriptor) (io.ReadCloser, error) {
		name, ok := im.files[d.Digest]
		if !ok {
			return nil, fmt.Errorf("open layer %s: not in the manifest", d.Digest)
		}
		rc, _, err := src.open(name)
		return rc, err
	}
}
