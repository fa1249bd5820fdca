package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/ingest"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Result describes a pulled image.
type Result struct {
	Ref        string           // the normalised ref recorded in the store
	Descriptor ispec.Descriptor // the image manifest
	Fetched    int              // layers downloaded
	Existing   int              // layers that already existed
}

// Image pulls ref into st and records it in the store's index. Errors wrap
// oci.ErrNotFound, oci.ErrUnauthorized, oci.ErrDigestMismatch,
// oci.ErrUnsupportedMediaType, oci.ErrMalformedManifest, oci.ErrMalformedLayer,
// oci.ErrUnsafePath, oci.ErrTooLarge, oci.ErrUnreachable, oci.ErrUnavailable
// or oci.ErrPlainHTTP (failures that outlast the retries are *oci.RetryError);
// on error nothing is added to the index.
func Image(ctx context.Context, st *store.Store, ref string, opts ...Option) (*Result, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	auth := o.auth
	if auth == nil {
		if auth, err = o.keychain.Resolve(r.Context()); err != nil {
			return nil, fmt.Errorf("pull %s: read credentials: %w", r.Name(), err)
		}
	}
	// One authenticated transport for the whole pull: the ping, the token
	// exchange (renewed on 401) and every request go through it, and
	// through the retrier, the stall guard and the plain-HTTP guard below
	// it (see the package doc, "Transport").
	var base http.RoundTripper = &guard{next: o.transport, insecure: o.insecure}
	if o.stall > 0 {
		base = &stallGuard{next: base, d: o.stall}
	}
	rt, err := transport.NewWithContext(ctx, r.Context().Registry, auth,
		&retrier{next: base, backoff: o.backoff}, []string{r.Context().Scope(transport.PullScope)})
	if err != nil {
		return nil, registryErr("pull "+r.Name(), err)
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt), remote.WithPlatform(o.platform)}

	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, registryErr("pull "+r.Name()+": fetch manifest", err)
	}
	var img v1.Image
	switch {
	case desc.MediaType.IsIndex():
		img, err = desc.Image() // chooses o.platform
		if err != nil {
			return nil, contentErr(fmt.Sprintf("pull %s for platform %s", r.Name(), o.platform.String()), err)
		}
	case desc.MediaType.IsImage():
		img, err = desc.Image()
		if err != nil {
			return nil, registryErr("pull "+r.Name(), err)
		}
	default:
		return nil, fmt.Errorf("pull %s: manifest media type %q: %w", r.Name(), desc.MediaType, oci.ErrUnsupportedMediaType)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, registryErr("pull "+r.Name(), err)
	}
	mdig := digest.FromBytes(raw)
	if d, ok := r.(name.Digest); ok && !desc.MediaType.IsIndex() && d.DigestStr() != mdig.String() {
		return nil, &oci.DigestError{What: "manifest", Want: d.DigestStr(), Got: mdig.String()}
	}
	// Checked before go-containerregistry parses it again for the config,
	// so that a bad manifest is reported as such.
	if _, _, err := ingest.ParseManifest(raw); err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	rawCfg, err := img.RawConfigFile() // parses raw again, go-containerregistry's way
	if err != nil {
		return nil, contentErr("pull "+r.Name()+": config", err)
	}
	in := ingest.Image{Manifest: raw, Config: rawCfg, Refs: []string{r.Name()}}
	if desc.MediaType.IsIndex() {
		p := o.platform
		in.Platform = &ispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion}
	}
	// Layer blobs come through lamina's own reader, which resumes a broken
	// download with a Range request (see blob.go).
	open := func(ctx context.Context, l ispec.Descriptor) (io.ReadCloser, error) {
		return &fetchReader{rc: newBlobReader(ctx, rt, r.Context().Digest(l.Digest.String()), l.Size, o.backoff)}, nil
	}
	res, err := ingest.Write(ctx, st, in, open,
		ingest.WithProgress(o.progress), ingest.WithWarn(o.warn), ingest.WithJobs(o.jobs))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	return &Result{Ref: r.Name(), Descriptor: res.Descriptor, Fetched: res.Fetched, Existing: res.Existing}, nil
}

// registryErr maps registry errors onto the oci sentinels.
func registryErr(what string, err error) error {
	var ge *guardError
	if errors.As(err, &ge) {
		return fmt.Errorf("%s: %w", what, ge)
	}
	var re *oci.RetryError
	if errors.As(err, &re) {
		return fmt.Errorf("%s: %w", what, re)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%s: %w: %v", what, oci.ErrNotFound, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%s: %w: %v", what, oci.ErrUnauthorized, err)
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return fmt.Errorf("%s: %w: %v", what, oci.ErrNotFound, err)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%s: %w: %v", what, oci.ErrUnauthorized, err)
			}
		}
	}
	if errors.Is(err, oci.ErrDigestMismatch) {
		return err
	}
	// A failed dial (after go-containerregistry's retries, and its fallback
	// from HTTPS to HTTP for loopback) is reported once, not per scheme.
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fmt.Errorf("%s: %w: %v", what, oci.ErrUnreachable, oe)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// contentErr is registryErr for the steps where go-containerregistry parses
// what the registry served (the index when choosing a platform, the manifest
// again when fetching the config). Its parse and size errors are untyped, so
// whatever is not the registry's or the network's is reported as
// oci.ErrMalformedManifest, and a platform missing from an index as
// oci.ErrNotFound.
func contentErr(what string, err error) error {
	e := registryErr(what, err)
	var te *transport.Error
	var ne net.Error
	switch {
	case errors.Is(e, oci.ErrNotFound), errors.Is(e, oci.ErrUnauthorized),
		errors.Is(e, oci.ErrDigestMismatch), errors.Is(e, oci.ErrUnreachable),
		errors.As(err, &te), errors.As(err, &ne),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return e
	case strings.Contains(err.Error(), "no child with platform"): // untyped in go-containerregistry
		return fmt.Errorf("%s: %w: %v", what, oci.ErrNotFound, err)
	}
	return fmt.Errorf("%s: %w: %v", what, oci.ErrMalformedManifest, err)
}

// guard refuses plain HTTP except to loopback hosts, unless insecure.
type guard struct {
	next     http.RoundTripper
	insecure bool
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure && !isLoopback(req.URL.Hostname()) {
		return nil, &guardError{host: req.URL.Host}
	}
	return g.next.RoundTrip(req)
}

// guardError is a request the guard refused; it matches oci.ErrPlainHTTP.
type guardError struct{ host string }

func (e *guardError) Error() string {
	return fmt.Sprintf("%s: %v (allow it with --insecure)", e.host, oci.ErrPlainHTTP)
}
func (e *guardError) Unwrap() error { return oci.ErrPlainHTTP }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fetchReader maps the errors of a registry blob stream (network failures,
// truncated bodies) onto the oci sentinels, as registryErr does.
type fetchReader struct{ rc io.ReadCloser }

func (f *fetchReader) Read(b []byte) (int, error) {
	n, err := f.rc.Read(b)
	if err != nil && err != io.EOF {
		err = registryErr("fetch blob", err)
	}
	return n, err
}

func (f *fetchReader) Close() error { return f.rc.Close() }
