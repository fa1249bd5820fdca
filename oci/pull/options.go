package pull

import (
	"net/http"

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
	auth      authn.Authenticator // nil: authn.DefaultKeychain
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
