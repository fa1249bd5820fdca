package store

import (
	"fmt"
	"hash"
	"os"
	"path/filepath"

	"github.com/lamina-dev/lamina/oci"
	"github.com/opencontainers/go-digest"
)

// BlobWriter streams one blob into tmp/ and publishes it under its digest.
// Write refuses more bytes than the declared size; Verify and Commit check
// the size and digest. Close discards an uncommitted blob.
type BlobWriter struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	n    int64
	want digest.Digest
	size int64
	done bool
}

// NewBlobWriter starts writing the blob d of size bytes.
func (s *Store) NewBlobWriter(d digest.Digest, size int64) (*BlobWriter, error) {
	if err := checkDigest(d); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.TempDir(), "blob-")
	if err != nil {
		return nil, fmt.Errorf("write blob %s: %w", d, err)
	}
	return &BlobWriter{s: s, f: f, h: digest.SHA256.Hash(), want: d, size: size}, nil
}

// Write appends p to the blob.
func (w *BlobWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.size {
		return 0, fmt.Errorf("write blob %s: more than the declared %d bytes: %w", w.want, w.size, oci.ErrTooLarge)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

// Written returns how many bytes were written so far.
func (w *BlobWriter) Written() int64 { return w.n }

// Verify checks that exactly the declared size was written and that the
// content has the expected digest (a *oci.DigestError if not).
func (w *BlobWriter) Verify() error {
	got := digest.NewDigest(digest.SHA256, w.h)
	if got != w.want {
		return &oci.DigestError{What: "blob", Want: w.want.String(), Got: got.String()}
	}
	if w.n != w.size {
		return fmt.Errorf("write blob %s: got %d bytes, descriptor says %d: %w", w.want, w.n, w.size, oci.ErrMalformedManifest)
	}
	return nil
}

// Commit verifies the blob, syncs it and renames it into blobs/.
func (w *BlobWriter) Commit() error {
	if err := w.Verify(); err != nil {
		return err
	}
	if err := w.f.Chmod(0o644); err != nil {
		return fmt.Errorf("commit blob %s: %w", w.want, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("commit blob %s: %w", w.want, err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("commit blob %s: %w", w.want, err)
	}
	dst := w.s.BlobPath(w.want)
	if err := os.Rename(w.f.Name(), dst); err != nil {
		return fmt.Errorf("commit blob %s: %w", w.want, err)
	}
	w.done = true
	return syncDir(filepath.Dir(dst))
}

// Close removes the temporary file unless the blob was committed.
func (w *BlobWriter) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	w.f.Close()
	return os.Remove(w.f.Name())
}
