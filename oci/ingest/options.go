package ingest

import "github.com/lamina-dev/lamina/oci"

// Option configures Write.
type Option func(*options)

type options struct {
	progress func(oci.Progress)
	warn     func(string)
	jobs     int
}

// defaults holds every default in one place.
func defaults() options {
	return options{progress: func(oci.Progress) {}, warn: func(string) {}, jobs: 3}
}

// WithProgress sets the progress callback. It may be called from several
// goroutines at once.
func WithProgress(f func(oci.Progress)) Option { return func(o *options) { o.progress = f } }

// WithWarn sets a callback for non-fatal warnings (skipped device nodes).
func WithWarn(f func(string)) Option { return func(o *options) { o.warn = f } }

// WithJobs sets how many layers are read at once (default 3).
func WithJobs(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.jobs = n
		}
	}
}
