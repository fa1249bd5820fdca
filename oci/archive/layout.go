package archive

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/ingest"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// image is one image found in an archive, ready for ingest.Write.
type image struct {
	in     ingest.Image
	layers []ispec.Descriptor       // the manifest's layers
	files  map[digest.Digest]string // layer digest → file in the source
	hashed bool                     // the layer files were hashed when read
}

// Annotations naming an image in an OCI layout's index.json.
const (
	annotationContainerdName = "io.containerd.image.name" // a full ref (containerd, docker 25+)
	mediaTypeDockerList      = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// maxIndexDepth bounds nested indexes in a layout.
const maxIndexDepth = 4

// readLayout reads the images of the OCI image layout in src. An index
// entry naming an index (a multi-platform image) yields the image for want.
func readLayout(src source, want v1.Platform) ([]*image, error) {
	b, err := readFile(src, "oci-layout")
	if err != nil {
		return nil, err
	}
	var lay ispec.ImageLayout
	if err := json.Unmarshal(b, &lay); err != nil || lay.Version == "" {
		return nil, fmt.Errorf("read oci-layout: %w: no imageLayoutVersion", ErrNotArchive)
	}
	b, err = readFile(src, "index.json")
	if err != nil {
		return nil, err
	}
	var idx ispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("parse index.json: %w: %v", oci.ErrMalformedManifest, err)
	}
	var out []*image
	byDigest := map[digest.Digest]*image{}
	for _, d := range idx.Manifests {
		refs, err := layoutRefs(d.Annotations)
		if err != nil {
			return nil, err
		}
		md, plat, err := chooseManifest(src, d, want, 0)
		if err != nil {
			return nil, err
		}
		if plat == nil {
			plat = d.Platform
		}
		if im := byDigest[md.Digest]; im != nil {
			im.in.Refs = append(im.in.Refs, refs...)
			continue
		}
		im, err := layoutImage(src, md)
		if err != nil {
			return nil, err
		}
		im.in.Refs, im.in.Platform = refs, plat
		byDigest[md.Digest] = im
		out = append(out, im)
	}
	return pickPlatforms(out, want)
}

// pickPlatforms resolves a ref that several top-level entries claim (a
// layout listing one image per platform under one name): the entry for want
// keeps it, the others lose it and are dropped if left without a name.
func pickPlatforms(imgs []*image, want v1.Platform) ([]*image, error) {
	claims := map[string][]*image{}
	for _, im := range imgs {
		for _, r := range im.in.Refs {
			claims[r] = append(claims[r], im)
		}
	}
	lost := map[*image]bool{}
	for r, ims := range claims {
		if len(ims) < 2 {
			continue
		}
		var match *image
		for _, im := range ims {
			if im.in.Platform != nil && toV1(im.in.Platform).Satisfies(want) {
				if match != nil {
					return nil, fmt.Errorf("read index.json: %s names several images for platform %s: %w", r, want.String(), oci.ErrMalformedManifest)
				}
				match = im
			}
		}
		if match == nil {
			return nil, fmt.Errorf("read index.json: %s: no image for platform %s: %w", r, want.String(), oci.ErrNotFound)
		}
		for _, im := range ims {
			if im != match {
				im.in.Refs = slices.DeleteFunc(im.in.Refs, func(x string) bool { return x == r })
				lost[im] = true
			}
		}
	}
	return slices.DeleteFunc(imgs, func(im *image) bool { return lost[im] && len(im.in.Refs) == 0 }), nil
}

// layoutRefs returns the normalised name of an index.json entry: its
// containerd name if it has one, else its org.opencontainers.image.ref.name
// unless that is a bare tag. Skopeo (oci:DIR:v1), umoci and docker 25+ write
// just the tag there ("v1", "latest"): a value without '/', ':' or '@' is
// not taken as a repository name (docker would read "v1" as
// index.docker.io/library/v1:latest), so such an entry is unnamed.
func layoutRefs(ann map[string]string) ([]string, error) {
	for _, k := range []string{annotationContainerdName, ispec.AnnotationRefName} {
		v := ann[k]
		if v == "" || k == ispec.AnnotationRefName && isBareTag(v) {
			continue
		}
		r, err := store.NormalizeRef(v)
		if err != nil {
			return nil, fmt.Errorf("read index.json: annotation %s: %w", k, err)
		}
		return []string{r}, nil
	}
	return nil, nil
}

// isBareTag reports whether a ref.name value is a tag alone, with no
// repository: no '/', ':' or '@'.
func isBareTag(v string) bool { return !strings.ContainsAny(v, "/:@") }

// chooseManifest follows d down to an image manifest, choosing want's
// platform from every index on the way. The platform is returned when an
// index was crossed.
func chooseManifest(src source, d ispec.Descriptor, want v1.Platform, depth int) (ispec.Descriptor, *ispec.Platform, error) {
	switch d.MediaType {
	case ispec.MediaTypeImageManifest, ingest.MediaTypeDockerManifest:
		return d, nil, nil
	case ispec.MediaTypeImageIndex, mediaTypeDockerList:
	default:
		return d, nil, fmt.Errorf("read %s: media type %q: %w", d.Digest, d.MediaType, oci.ErrUnsupportedMediaType)
	}
	if depth >= maxIndexDepth {
		return d, nil, fmt.Errorf("read index %s: nested more than %d deep: %w", d.Digest, maxIndexDepth, oci.ErrMalformedManifest)
	}
	b, err := readBlob(src, d.Digest, d.Size)
	if err != nil {
		return d, nil, err
	}
	var idx ispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return d, nil, fmt.Errorf("parse index %s: %w: %v", d.Digest, oci.ErrMalformedManifest, err)
	}
	for _, c := range idx.Manifests {
		if c.Platform == nil || !toV1(c.Platform).Satisfies(want) {
			continue
		}
		md, _, err := chooseManifest(src, c, want, depth+1)
		if err != nil {
			return d, nil, err
		}
		return md, c.Platform, nil
	}
	return d, nil, fmt.Errorf("read index %s: no image for platform %s: %w", d.Digest, want.String(), oci.ErrNotFound)
}

func toV1(p *ispec.Platform) v1.Platform {
	return v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion, OSFeatures: p.OSFeatures}
}

// layoutImage reads the manifest md and its config from src.
func layoutImage(src source, md ispec.Descriptor) (*image, error) {
	raw, err := readBlob(src, md.Digest, md.Size)
	if err != nil {
		return nil, err
	}
	m, _, err := ingest.ParseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", md.Digest, err)
	}
	cfg, err := readBlob(src, m.Config.Digest, m.Config.Size)
	if err != nil {
		return nil, fmt.Errorf("read config of %s: %w", md.Digest, err)
	}
	im := &image{in: ingest.Image{Manifest: raw, Config: cfg}, layers: m.Layers, files: map[digest.Digest]string{}}
	for _, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return nil, fmt.Errorf("read manifest %s: layer digest %q: %w", md.Digest, l.Digest, oci.ErrMalformedManifest)
		}
		im.files[l.Digest] = blobName(l.Digest)
	}
	return im, nil
}
