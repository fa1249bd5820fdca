package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/layer"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/whiteout"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// layerWriter reads, verifies, unpacks and publishes one layer.
type layerWriter struct {
	st   *store.Store
	o    *options
	wh   *whiteout.Writer
	open BlobOpener
}

// write streams the blob l once: into a blob file and, decompressed,
// into a fresh layer directory. Both are published only when the blob
// digest and size and the diff_id all match.
func (w *layerWriter) write(ctx context.Context, l ispec.Descriptor, diffID digest.Digest, comp layer.Compression) (err error) {
	report := func(s oci.Status, cur int64) {
		w.o.progress(oci.Progress{Digest: l.Digest.String(), DiffID: diffID.String(), Status: s, Current: cur, Total: l.Size})
	}
	rc, err := w.open(ctx, l)
	if err != nil {
		return err
	}
	defer rc.Close()
	bw, err := w.st.NewBlobWriter(l.Digest, l.Size)
	if err != nil {
		return err
	}
	defer bw.Close()
	tmp, err := w.st.MkdirTemp("layer")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	report(oci.StatusDownloading, 0)
	body := io.TeeReader(rc, &progressWriter{w: bw, report: report})
	dr, err := layer.Decompress(body, comp)
	var uerr error
	diffHash := digest.SHA256.Hash()
	if err != nil {
		uerr = err
	} else {
		lim := layer.Limit(dr, oci.MaxUncompressed(l.Size))
		tarStream := io.TeeReader(lim, diffHash)
		_, uerr = layer.Unpack(ctx, tarStream, tmp, layer.WithWhiteoutWriter(w.wh), layer.WithWarn(w.o.warn))
		if uerr == nil {
			_, uerr = io.Copy(io.Discard, tarStream) // the tar's trailing padding
		}
		dr.Close()
	}
	// Read the blob to its end, so that a corrupt blob is reported as a
	// digest mismatch rather than as whatever it broke first.
	_, rerr := io.Copy(io.Discard, body)
	if rerr == nil {
		report(oci.StatusVerifying, bw.Written())
	}
	verr := bw.Verify()
	switch {
	case verr != nil && bw.Written() == l.Size:
		return verr // all bytes came, but not the right ones
	case rerr != nil && errors.Is(rerr, oci.ErrTooLarge):
		return rerr
	case rerr != nil:
		return fmt.Errorf("read blob: %w", rerr) // I/O failure, truncated stream
	case verr != nil:
		return verr
	}
	if uerr != nil {
		return uerr
	}
	if got := digest.NewDigest(digest.SHA256, diffHash); got != diffID {
		return &oci.DigestError{What: "diff_id", Want: diffID.String(), Got: got.String()}
	}
	report(oci.StatusVerified, l.Size)
	if err := bw.Commit(); err != nil {
		return err
	}
	if _, err := w.st.CommitLayer(tmp, diffID); err != nil {
		return err
	}
	report(oci.StatusDone, l.Size)
	return nil
}

type progressWriter struct {
	w      io.Writer
	n      int64
	last   int64
	report func(oci.Status, int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.n-p.last >= 1<<20 {
		p.last = p.n
		p.report(oci.StatusDownloading, p.n)
	}
	return n, err
}
