package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/lamina-dev/lamina/oci"
)

// blobReader streams one blob of known size from a registry, resuming
// where it stopped when the body breaks off (connection reset, truncated
// body): it asks again with "Range: bytes=OFF-". A registry that ignores
// Range and sends the whole blob (200) is read past the bytes already
// delivered, so the reader's caller sees one unbroken stream either way.
// Redirects (to storage holding the blob) are followed by http.Client
// (at most 10). Storage never sees the registry's token: the auth
// transport t adds Authorization only to requests for the registry's own
// host:port, and it sets the header on its copy of each request, so
// http.Client has none to carry over to the redirect.
//
// Each break-off counts one attempt of backoff; after the last it fails
// with an *oci.RetryError. A break-off after bytes arrived since the
// previous one starts the count again: a large blob on a link that resets
// every few minutes is fetched as long as every request makes progress. The reader checks only the length: the caller
// verifies the digest.
type blobReader struct {
	// ctx is the layer fetch's: io.Reader has no context parameter, and a
	// blobReader lives only inside one layer write (ingest.Write).
	ctx     context.Context
	client  *http.Client
	url     string
	size    int64
	backoff Backoff

	body     io.ReadCloser
	off      int64 // bytes delivered to the caller
	failures int   // break-offs in a row without progress
	failOff  int64 // off at the last break-off
	err      error // final: every later Read returns it
}

func newBlobReader(ctx context.Context, t http.RoundTripper, ref name.Digest, size int64, b Backoff) *blobReader {
	reg := ref.Context().Registry
	// The auth transport chooses the scheme (https, or http after its ping).
	url := fmt.Sprintf("%s://%s/v2/%s/blobs/%s", reg.Scheme(), reg.RegistryStr(), ref.Context().RepositoryStr(), ref.DigestStr())
	client := &http.Client{Transport: t}
	return &blobReader{ctx: ctx, client: client, url: url, size: size, backoff: b}
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

func (b *blobReader) read(p []byte) (int, error) {
	for {
		if b.off >= b.size {
			// The descriptor's size is reached; more would be a lie.
			if b.body != nil {
				var one [1]byte
				if n, _ := b.body.Read(one[:]); n > 0 {
					return 0, fmt.Errorf("blob longer than its descriptor's %d bytes: %w", b.size, oci.ErrTooLarge)
				}
			}
			return 0, io.EOF
		}
		if b.body == nil {
			if err := b.open(); err != nil {
				if retryableErr(err) {
					if err := b.fail(err); err != nil {
						return 0, err
					}
					continue
				}
				return 0, err
			}
		}
		if int64(len(p)) > b.size-b.off {
			p = p[:b.size-b.off]
		}
		n, err := b.body.Read(p)
		b.off += int64(n)
		if err == io.EOF && b.off < b.size {
			err = io.ErrUnexpectedEOF // cut short
		}
		switch {
		case err == nil || err == io.EOF:
			return n, nil
		case n > 0:
			// Deliver what came; the next Read resumes.
			b.body.Close()
			b.body = nil
			if !retryableErr(err) || b.ctx.Err() != nil {
				return n, err
			}
			if ferr := b.fail(err); ferr != nil {
				return n, ferr
			}
			return n, nil
		case !retryableErr(err) || b.ctx.Err() != nil:
			return 0, err
		default:
			b.body.Close()
			b.body = nil
			if err := b.fail(err); err != nil {
				return 0, err
			}
		}
	}
}

// fail counts a break-off and waits before the next attempt, or gives up.
// The count restarts when the download advanced since the last break-off.
func (b *blobReader) fail(err error) error {
	if b.off > b.failOff {
		b.failures = 0
	}
	b.failOff = b.off
	b.failures++
	if b.failures >= b.backoff.Attempts {
		return &oci.RetryError{Attempts: b.failures, Err: err}
	}
	return sleep(b.ctx, b.backoff.delay(b.failures, 0))
}

// open starts (or resumes at b.off) the download. It always asks the
// registry, never the storage URL a previous attempt was redirected to, so
// an expired presigned URL is replaced by a fresh redirect.
func (b *blobReader) open() error {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.url, nil)
	if err != nil {
		return err
	}
	if b.off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", b.off))
	}
	resp, err := b.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the caller's message names the blob already
		}
		return err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && b.off > 0:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != b.off {
			resp.Body.Close()
			return fmt.Errorf("resume blob at %d: Content-Range %q", b.off, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if b.off > 0 { // Range ignored: skip what was delivered already
			if _, err := io.CopyN(io.Discard, resp.Body, b.off); err != nil {
				resp.Body.Close()
				return err
			}
		}
	default:
		defer resp.Body.Close()
		return transport.CheckError(resp, http.StatusOK)
	}
	b.body = resp.Body
	return nil
}

// rangeStart parses the first byte position of "bytes START-END/SIZE".
func rangeStart(cr string) (int64, bool) {
	rest, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return 0, false
	}
	s, _, ok := strings.Cut(rest, "-")
	if !ok || s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false // "*/SIZE", a sign, or not a number
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Close ends the download.
func (b *blobReader) Close() error {
	if b.body != nil {
		err := b.body.Close()
		b.body = nil
		return err
	}
	return nil
}
