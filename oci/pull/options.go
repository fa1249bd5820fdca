package pull

import (
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/lamina-dev/lamina/oci"
)

// Option configures Image.
type Option func(*options)

type options struct {
	platform  v1.Platform
	insecure  bool
	auth      authn.Authenticator // nil: resolved through keychain
	keychain  authn.Keychain
	backoff   Backoff
	stall     time.Duration // 0: never give up on a quiet server
	progress  func(oci.Progress)
	warn      func(string)
	jobs      int
	transport http.RoundTripper
}

// defaults holds every default in one place.
func defaults() options {
	return options{
		platform:  oci.HostPlatform(),
		progress:  func(oci.Progress) {},
		warn:      func(string) {},
		jobs:      3,
		transport: remote.DefaultTransport,
		keychain:  authn.DefaultKeychain, // ~/.docker/config.json, $DOCKER_CONFIG
		// About 4 s of waiting in all before giving up.
		backoff: Backoff{Attempts: 5, Initial: 250 * time.Millisecond, Max: 8 * time.Second, Factor: 2, Jitter: 0.2},
		stall:   30 * time.Second,
	}
}

// WithPlatform selects the image of an index for p (default: the host's).
func WithPlatform(p v1.Platform) Option { return func(o *options) { o.platform = p } }

// WithInsecure allows plain HTTP (and skips nothing else) to any registry;
// without it plain HTTP is allowed only to loopback addresses.
func WithInsecure(b bool) Option { return func(o *options) { o.insecure = b } }

// WithBasicAuth uses these credentials instead of ~/.docker/config.json.
func WithBasicAuth(user, pass string) Option {
	return func(o *options) { o.auth = &authn.Basic{Username: user, Password: pass} }
}

// WithProgress sets the progress callback. It may be called from several
// goroutines at once.
func WithProgress(f func(oci.Progress)) Option { return func(o *options) { o.progress = f } }

// WithWarn sets a callback for non-fatal warnings (skipped device nodes).
func WithWarn(f func(string)) Option { return func(o *options) { o.warn = f } }

// WithJobs sets how many layers are fetched at once (default 3).
func WithJobs(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.jobs = n
		}
	}
}

// WithTransport sets the HTTP transport (default remote.DefaultTransport).
func WithTransport(t http.RoundTripper) Option { return func(o *options) { o.transport = t } }

// WithKeychain sets where credentials are looked up when WithBasicAuth is
// not given (default authn.DefaultKeychain: $DOCKER_CONFIG/config.json or
// ~/.docker/config.json, and the credential helpers it names).
func WithKeychain(k authn.Keychain) Option { return func(o *options) { o.keychain = k } }

// WithRetry sets how failed requests are retried: network failures, a blob
// body cut short, and 429 and 5xx answers (default: 5 attempts,
// waiting 250 ms, 500 ms, 1 s, 2 s, each ±20%). Attempts below 1 count as 1.
func WithRetry(b Backoff) Option {
	return func(o *options) {
		b.Attempts = max(b.Attempts, 1)
		o.backoff = b
	}
}

// WithStallTimeout sets how long a registry may send nothing (no response
// headers, or no body bytes) before the request is abandoned and retried
// like a network failure (default 30 s; 0 waits forever).
func WithStallTimeout(d time.Duration) Option { return func(o *options) { o.stall = max(d, 0) } }
