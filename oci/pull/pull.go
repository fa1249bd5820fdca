package pull

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/layer"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/whiteout"
	"github.com/opencontainers/go-digest"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
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
	m, mt, err := parseManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	rawCfg, err := img.RawConfigFile() // parses raw again, go-containerregistry's way
	if err != nil {
		return nil, contentErr("pull "+r.Name()+": config", err)
	}
	if got := digest.FromBytes(rawCfg); got != m.Config.Digest {
		return nil, &oci.DigestError{What: "config", Want: m.Config.Digest.String(), Got: got.String()}
	}
	var cfg ispec.Image
	if err := json.Unmarshal(rawCfg, &cfg); err != nil {
		return nil, fmt.Errorf("pull %s: config: %w: %v", r.Name(), oci.ErrMalformedManifest, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("pull %s: %d layers but %d diff_ids: %w", r.Name(), len(m.Layers), len(cfg.RootFS.DiffIDs), oci.ErrMalformedManifest)
	}
	comps := make([]layer.Compression, len(m.Layers))
	for i, l := range m.Layers {
		if comps[i], err = layer.CompressionOf(l.MediaType); err != nil {
			return nil, fmt.Errorf("pull %s: layer %s: %w", r.Name(), l.Digest, err)
		}
		if err := l.Digest.Validate(); err != nil || l.Digest.Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("pull %s: layer digest %q: %w", r.Name(), l.Digest, oci.ErrMalformedManifest)
		}
		if err := cfg.RootFS.DiffIDs[i].Validate(); err != nil || cfg.RootFS.DiffIDs[i].Algorithm() != digest.SHA256 {
			return nil, fmt.Errorf("pull %s: diff_id %q: %w", r.Name(), cfg.RootFS.DiffIDs[i], oci.ErrMalformedManifest)
		}
		if l.Size < 0 {
			return nil, fmt.Errorf("pull %s: layer %s size %d: %w", r.Name(), l.Digest, l.Size, oci.ErrMalformedManifest)
		}
	}

	unlock, err := st.LockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	wh, err := whiteout.NewWriter(st.TempDir())
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", r.Name(), err)
	}
	res := &Result{Ref: r.Name()}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs)
	fetch := make([]bool, len(m.Layers))
	for i, l := range m.Layers {
		diffID := cfg.RootFS.DiffIDs[i]
		ev := oci.Progress{Digest: l.Digest.String(), DiffID: diffID.String(), Status: oci.StatusWaiting, Total: l.Size}
		if st.HasLayer(diffID) && st.HasBlob(l.Digest) {
			ev.Status = oci.StatusExists
			res.Existing++
		} else {
			fetch[i] = true
		}
		o.progress(ev)
	}
	for i, l := range m.Layers {
		if !fetch[i] {
			continue
		}
		g.Go(func() error {
			f := fetcher{st: st, o: &o, wh: wh, rt: rt}
			if err := f.layer(gctx, r.Context().Digest(l.Digest.String()), l, cfg.RootFS.DiffIDs[i], comps[i]); err != nil {
				return fmt.Errorf("pull %s: layer %s: %w", r.Name(), l.Digest, err)
			}
			mu.Lock()
			res.Fetched++
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := st.PutBlob(m.Config.Digest, rawCfg); err != nil {
		return nil, err
	}
	if err := st.PutBlob(mdig, raw); err != nil {
		return nil, err
	}
	res.Descriptor = ispec.Descriptor{MediaType: mt, Digest: mdig, Size: int64(len(raw))}
	if desc.MediaType.IsIndex() {
		p := o.platform
		res.Descriptor.Platform = &ispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion}
	}
	if err := st.Tag(res.Ref, res.Descriptor); err != nil {
		return nil, err
	}
	return res, nil
}

// parseManifest checks that raw is an OCI or Docker schema 2 image manifest.
func parseManifest(raw []byte) (*ispec.Manifest, string, error) {
	var m ispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("%w: %v", oci.ErrMalformedManifest, err)
	}
	if m.SchemaVersion != 2 {
		return nil, "", fmt.Errorf("%w: schemaVersion %d", oci.ErrUnsupportedMediaType, m.SchemaVersion)
	}
	mt := m.MediaType
	if mt == "" {
		mt = ispec.MediaTypeImageManifest
	}
	switch mt {
	case ispec.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json":
	default:
		return nil, "", fmt.Errorf("manifest media type %q: %w", mt, oci.ErrUnsupportedMediaType)
	}
	if err := m.Config.Digest.Validate(); err != nil {
		return nil, "", fmt.Errorf("%w: config digest: %v", oci.ErrMalformedManifest, err)
	}
	return &m, mt, nil
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

// fetcher downloads, verifies and unpacks one layer.
type fetcher struct {
	st *store.Store
	o  *options
	wh *whiteout.Writer
	rt http.RoundTripper // authenticated, retrying
}

func (f *fetcher) layer(ctx context.Context, ref name.Digest, l ispec.Descriptor, diffID digest.Digest, comp layer.Compression) (err error) {
	report := func(s oci.Status, cur int64) {
		f.o.progress(oci.Progress{Digest: l.Digest.String(), DiffID: diffID.String(), Status: s, Current: cur, Total: l.Size})
	}
	rc := newBlobReader(ctx, f.rt, ref, l.Size, f.o.backoff)
	defer rc.Close()
	bw, err := f.st.NewBlobWriter(l.Digest, l.Size)
	if err != nil {
		return err
	}
	defer bw.Close()
	tmp, err := f.st.MkdirTemp("layer")
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
		lim := &limitReader{r: dr, n: oci.MaxUncompressed(l.Size)}
		tarStream := io.TeeReader(lim, diffHash)
		_, uerr = layer.Unpack(ctx, tarStream, tmp, layer.WithWhiteoutWriter(f.wh), layer.WithWarn(f.o.warn))
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
		return registryErr("fetch blob", rerr) // network failure, truncated body, 404
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
	if _, err := f.st.CommitLayer(tmp, diffID); err != nil {
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

// limitReader fails with oci.ErrTooLarge after n bytes.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("decompressed layer: %w", oci.ErrTooLarge)
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}
