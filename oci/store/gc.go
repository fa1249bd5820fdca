package store

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// GCStats says what a GC removed.
type GCStats struct {
	Blobs  int
	Layers int
	Bytes  int64 // size of the removed blobs
}

// GC deletes every blob and layer directory that no ref in index.json and
// no container record references, and empties tmp/. It takes the store lock
// exclusive, so it waits for running pulls and mounts to finish.
func (s *Store) GC() (GCStats, error) {
	var st GCStats
	un, err := s.LockExclusive()
	if err != nil {
		return st, err
	}
	defer un()
	s.cleanTemp()

	liveBlobs := map[digest.Digest]bool{}
	liveLayers := map[string]bool{}
	addManifest := func(d digest.Digest) error {
		liveBlobs[d] = true
		m, err := s.Manifest(d)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		liveBlobs[m.Config.Digest] = true
		for _, l := range m.Layers {
			liveBlobs[l.Digest] = true
		}
		c, err := s.Config(m.Config.Digest)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		for _, id := range c.RootFS.DiffIDs {
			liveLayers[id.Encoded()] = true
		}
		return nil
	}
	imgs, err := s.Images()
	if err != nil {
		return st, err
	}
	for _, im := range imgs {
		if err := addManifest(im.Descriptor.Digest); err != nil {
			return st, err
		}
	}
	cs, err := s.Containers()
	if err != nil {
		return st, err
	}
	for _, c := range cs {
		liveBlobs[c.Manifest] = true
		for _, id := range c.Layers {
			liveLayers[id.Encoded()] = true
		}
		_ = addManifest(c.Manifest) // keep what is still there
	}

	blobDir := filepath.Join(s.root, "blobs", "sha256")
	ents, err := os.ReadDir(blobDir)
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if liveBlobs[digest.NewDigestFromEncoded(digest.SHA256, e.Name())] {
			continue
		}
		if fi, err := e.Info(); err == nil {
			st.Bytes += fi.Size()
		}
		if err := os.Remove(filepath.Join(blobDir, e.Name())); err != nil {
			return st, fmt.Errorf("gc: %w", err)
		}
		st.Blobs++
	}
	layerDir := filepath.Join(s.root, "layers")
	ents, err = os.ReadDir(layerDir)
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	for _, e := range ents {
		if liveLayers[e.Name()] {
			continue
		}
		if err := s.removeDir(filepath.Join(layerDir, e.Name())); err != nil {
			return st, fmt.Errorf("gc: %w", err)
		}
		st.Layers++
	}
	return st, nil
}
