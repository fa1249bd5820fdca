package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/lamina-dev/lamina/oci"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Image is one ref of the store: its name and the descriptor of its manifest.
type Image struct {
	Ref        string
	Descriptor ispec.Descriptor
}

// NormalizeRef returns the canonical form of a user-typed ref as the store
// records it ("busybox" becomes "index.docker.io/library/busybox:latest").
func NormalizeRef(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("parse reference %q: %w", ref, err)
	}
	return r.Name(), nil
}

func (s *Store) readIndex() (*ispec.Index, error) {
	b, err := os.ReadFile(filepath.Join(s.root, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return &ispec.Index{Versioned: versioned(), MediaType: ispec.MediaTypeImageIndex}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read index.json: %w", err)
	}
	var idx ispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("read index.json: %w", err)
	}
	// A hand-edited index must give an error, not a panic in go-digest.
	for i, d := range idx.Manifests {
		if err := checkDigest(d.Digest); err != nil {
			return nil, fmt.Errorf("read index.json: manifests[%d]: %w", i, err)
		}
	}
	return &idx, nil
}

// ensureIndex writes an empty index.json if there is none, so that even an
// empty store is a valid OCI image layout (which requires index.json).
func (s *Store) ensureIndex() error {
	p := filepath.Join(s.root, "index.json")
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	un, err := s.lockIndex()
	if err != nil {
		return err
	}
	defer un()
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		return nil // a concurrent Open or Tag wrote it first
	}
	return s.writeIndex(&ispec.Index{Versioned: versioned(), MediaType: ispec.MediaTypeImageIndex})
}

func (s *Store) writeIndex(idx *ispec.Index) error {
	sort.Slice(idx.Manifests, func(i, j int) bool {
		return refOf(idx.Manifests[i]) < refOf(idx.Manifests[j])
	})
	if idx.Manifests == nil {
		idx.Manifests = []ispec.Descriptor{}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	if err := s.writeFile("index.json", b); err != nil {
		return fmt.Errorf("write index.json: %w", err)
	}
	return nil
}

func refOf(d ispec.Descriptor) string { return d.Annotations[ispec.AnnotationRefName] }

// Images lists the store's refs, sorted.
func (s *Store) Images() ([]Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Image
	for _, d := range idx.Manifests {
		out = append(out, Image{Ref: refOf(d), Descriptor: d})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// Resolve finds an image by ref (as typed or normalised), or by a manifest
// digest or a unique prefix of its hex of at least 6 characters. It returns
// oci.ErrNotFound when nothing matches.
func (s *Store) Resolve(ref string) (Image, error) {
	imgs, err := s.Images()
	if err != nil {
		return Image{}, err
	}
	norm, _ := NormalizeRef(ref)
	for _, im := range imgs {
		if im.Ref == ref || (norm != "" && im.Ref == norm) {
			return im, nil
		}
	}
	hexPrefix := strings.TrimPrefix(ref, "sha256:")
	if len(hexPrefix) >= 6 {
		var found []Image
		for _, im := range imgs {
			if strings.HasPrefix(im.Descriptor.Digest.Encoded(), hexPrefix) {
				found = append(found, im)
			}
		}
		if len(found) > 0 {
			same := true
			for _, f := range found {
				same = same && f.Descriptor.Digest == found[0].Descriptor.Digest
			}
			if same {
				return found[0], nil
			}
			return Image{}, fmt.Errorf("resolve %q: ambiguous digest prefix", ref)
		}
	}
	return Image{}, fmt.Errorf("resolve %q: %w", ref, oci.ErrNotFound)
}

// Tag points ref at the manifest desc. The manifest, its config and all its
// layers must already be in the store.
func (s *Store) Tag(ref string, desc ispec.Descriptor) error {
	return s.TagAll([]string{ref}, desc)
}

// TagAll points every ref of refs at the manifest desc in one update of
// index.json: either all refs are recorded or, on error, none is. Each ref
// must parse as an image reference (the store records refs as NormalizeRef
// returns them). The manifest, its config and all its layers must already
// be in the store.
func (s *Store) TagAll(refs []string, desc ispec.Descriptor) error {
	for _, ref := range refs {
		if _, err := name.ParseReference(ref); err != nil {
			return fmt.Errorf("tag %q: %w", ref, err)
		}
	}
	if !s.HasBlob(desc.Digest) {
		return fmt.Errorf("tag %s: manifest %s is not stored", strings.Join(refs, ", "), desc.Digest)
	}
	if len(refs) == 0 {
		return nil
	}
	un, err := s.lockIndex()
	if err != nil {
		return err
	}
	defer un()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	tagged := map[string]bool{}
	for _, ref := range refs {
		tagged[ref] = true
	}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if !tagged[refOf(m)] {
			kept = append(kept, m)
		}
	}
	for ref := range tagged {
		d := desc
		d.Annotations = map[string]string{ispec.AnnotationRefName: ref}
		for k, v := range desc.Annotations {
			if k != ispec.AnnotationRefName {
				d.Annotations[k] = v
			}
		}
		kept = append(kept, d)
	}
	idx.Manifests = kept
	return s.writeIndex(idx)
}

// Untag removes ref from index.json. It returns oci.ErrNotFound if the ref
// is not there. Content is left for GC.
func (s *Store) Untag(ref string) error {
	un, err := s.lockIndex()
	if err != nil {
		return err
	}
	defer un()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		if refOf(m) != ref {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(idx.Manifests) {
		return fmt.Errorf("untag %s: %w", ref, oci.ErrNotFound)
	}
	idx.Manifests = kept
	return s.writeIndex(idx)
}

// Manifest reads and parses the image manifest d.
func (s *Store) Manifest(d digest.Digest) (*ispec.Manifest, error) {
	return readJSONBlob[ispec.Manifest](s, d, "manifest")
}

// Config reads and parses the image config d.
func (s *Store) Config(d digest.Digest) (*ispec.Image, error) {
	return readJSONBlob[ispec.Image](s, d, "config")
}

// readJSONBlob reads blob d and parses it as a T; a blob that does not
// parse is an oci.ErrMalformedManifest.
func readJSONBlob[T any](s *Store, d digest.Digest, what string) (*T, error) {
	b, err := s.ReadBlob(d)
	if err != nil {
		return nil, err
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("parse %s %s: %w: %v", what, d, oci.ErrMalformedManifest, err)
	}
	return &v, nil
}

// LayerDirs returns the layer directories of the image manifest d, top
// layer first, as a union's lowers are listed.
func (s *Store) LayerDirs(d digest.Digest) ([]string, []digest.Digest, error) {
	m, err := s.Manifest(d)
	if err != nil {
		return nil, nil, err
	}
	c, err := s.Config(m.Config.Digest)
	if err != nil {
		return nil, nil, err
	}
	ids := c.RootFS.DiffIDs
	var dirs []string
	for i := len(ids) - 1; i >= 0; i-- {
		if !s.HasLayer(ids[i]) {
			return nil, nil, fmt.Errorf("image %s: layer %s is not unpacked", d, ids[i])
		}
		dirs = append(dirs, s.LayerPath(ids[i]))
	}
	return dirs, ids, nil
}

func versioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }
