package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/layer"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
)

// writeDocker writes imgs as a docker save archive: every config and
// uncompressed layer once as blobs/sha256/<hex>, then manifest.json.
func writeDocker(ctx context.Context, st *store.Store, imgs []saved, s sink) error {
	done := map[digest.Digest]bool{}
	var entries []dockerEntry
	for _, im := range imgs {
		cd := im.manifest.Config.Digest
		if !done[cd] {
			if err := copyBlob(st, s, cd, im.manifest.Config.Size); err != nil {
				return err
			}
			done[cd] = true
		}
		e := dockerEntry{Config: blobName(cd), RepoTags: []string{familiar(im.img.Ref)}}
		for i, l := range im.manifest.Layers {
			if err := ctx.Err(); err != nil {
				return err
			}
			diffID := im.config.RootFS.DiffIDs[i]
			e.Layers = append(e.Layers, blobName(diffID))
			if done[diffID] {
				continue
			}
			if err := putLayerTar(st, s, l.Digest, l.Size, l.MediaType, diffID); err != nil {
				return err
			}
			done[diffID] = true
		}
		entries = append(entries, e)
	}
	b, err := json.Marshal(entries)
	if err != nil {
		return fmt.Errorf("write manifest.json: %w", err)
	}
	return putBytes(s, "manifest.json", b)
}

// putLayerTar writes the uncompressed tar of the stored layer blob d as
// blobs/sha256/<diff_id hex>. A compressed blob is decompressed into a
// temp file first (a tar header needs the size) and checked against the
// diff_id.
func putLayerTar(st *store.Store, s sink, d digest.Digest, size int64, mediaType string, diffID digest.Digest) error {
	comp, err := layer.CompressionOf(mediaType)
	if err != nil {
		return err
	}
	if comp == layer.Uncompressed && d == diffID {
		return copyBlob(st, s, d, size)
	}
	f, err := os.Open(st.BlobPath(d))
	if err != nil {
		return fmt.Errorf("read blob %s: %w", d, err)
	}
	defer f.Close()
	bv := d.Verifier()
	body := io.TeeReader(f, bv)
	dr, err := layer.Decompress(body, comp)
	if err != nil {
		return fmt.Errorf("read blob %s: %w", d, err)
	}
	defer dr.Close()
	tmp, err := os.CreateTemp(st.TempDir(), "save-")
	if err != nil {
		return fmt.Errorf("decompress layer %s: %w", d, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	dv := diffID.Verifier()
	n, derr := io.Copy(io.MultiWriter(tmp, dv), layer.Limit(dr, oci.MaxUncompressed(size)))
	// Read the rest of the blob, so that a corrupt blob is reported as a
	// digest mismatch rather than as whatever it broke in the decompressor.
	if _, err := io.Copy(io.Discard, body); err != nil {
		return fmt.Errorf("read blob %s: %w", d, err)
	}
	if !bv.Verified() {
		return fmt.Errorf("read blob %s: stored content does not match its digest: %w", d, oci.ErrDigestMismatch)
	}
	if derr != nil {
		return fmt.Errorf("decompress layer %s: %w", d, derr)
	}
	if !dv.Verified() {
		return fmt.Errorf("decompress layer %s: content does not match diff_id %s: %w", d, diffID, oci.ErrDigestMismatch)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("decompress layer %s: %w", d, err)
	}
	return s.put(blobName(diffID), n, tmp)
}
