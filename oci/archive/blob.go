package archive

import (
	"fmt"
	"io"

	"github.com/lamina-dev/lamina/oci"
	"github.com/opencontainers/go-digest"
)

// maxJSON bounds the index, manifests, configs and manifest.json read into
// memory from an archive.
const maxJSON = 32 << 20

// blobName is where an OCI layout keeps the blob d.
func blobName(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

// readFile reads the small file name whole.
func readFile(src source, name string) ([]byte, error) {
	rc, size, err := src.open(name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	if size > maxJSON {
		return nil, fmt.Errorf("read %s: %d bytes: %w", name, size, oci.ErrTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxJSON+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// readBlob reads the small blob d of the layout and checks its digest and,
// if size >= 0, its size.
func readBlob(src source, d digest.Digest, size int64) ([]byte, error) {
	if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("read blob %q: %w", d, oci.ErrMalformedManifest)
	}
	b, err := readFile(src, blobName(d))
	if err != nil {
		return nil, err
	}
	if got := digest.FromBytes(b); got != d {
		return nil, &oci.DigestError{What: "blob", Want: d.String(), Got: got.String()}
	}
	if size >= 0 && int64(len(b)) != size {
		return nil, fmt.Errorf("read blob %s: %d bytes, descriptor says %d: %w", d, len(b), size, oci.ErrMalformedManifest)
	}
	return b, nil
}

// hashFile reads name to its end and returns its digest and size.
func hashFile(src source, name string) (digest.Digest, int64, error) {
	rc, _, err := src.open(name)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	h := digest.SHA256.Digester()
	n, err := io.Copy(h.Hash(), rc)
	if err != nil {
		return "", 0, fmt.Errorf("read %s: %w", name, err)
	}
	return h.Digest(), n, nil
}
