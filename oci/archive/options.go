package archive

import (
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/ingest"
)

// Option configures Load and Save.
type Option func(*options)

type options struct {
	platform v1.Platform
	tag      string // "" or a ref for the archive's only image
	stdin    io.Reader
	stdout   io.Writer
	ingest   []ingest.Option
}

// defaults holds every default in one place.
func defaults() options {
	return options{platform: oci.HostPlatform(), stdin: os.Stdin, stdout: os.Stdout}
}

// WithPlatform selects the image of a multi-platform index for p (default:
// the host's).
func WithPlatform(p v1.Platform) Option { return func(o *options) { o.platform = p } }

// WithTag names the archive's image ref (Load); the archive must hold
// exactly one image.
func WithTag(ref string) Option { return func(o *options) { o.tag = ref } }

// WithStdin sets what Load reads for the path "-" (default os.Stdin).
func WithStdin(r io.Reader) Option { return func(o *options) { o.stdin = r } }

// WithStdout sets where Save writes an archive for the path "-" (default
// os.Stdout).
func WithStdout(w io.Writer) Option { return func(o *options) { o.stdout = w } }

// WithProgress sets Load's progress callback (see ingest.WithProgress).
func WithProgress(f func(oci.Progress)) Option {
	return func(o *options) { o.ingest = append(o.ingest, ingest.WithProgress(f)) }
}

// WithWarn sets Load's callback for non-fatal warnings (skipped devices).
func WithWarn(f func(string)) Option {
	return func(o *options) { o.ingest = append(o.ingest, ingest.WithWarn(f)) }
}
