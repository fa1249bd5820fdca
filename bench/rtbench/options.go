package rtbench

import (
	"io"
)

// Option configures Run.
type Option func(*options)

type options struct {
	runs     int
	warmup   int
	lamina   string
	peers    []string
	progress io.Writer
}

// Defaults, in one place.
const (
	DefaultRuns   = 200
	DefaultWarmup = 5
	DefaultLamina = "bin/lamina"
)

func defaultOptions() options {
	return options{
		runs:     DefaultRuns,
		warmup:   DefaultWarmup,
		lamina:   DefaultLamina,
		peers:    []string{"runc", "crun"},
		progress: io.Discard,
	}
}

// WithRuns sets the timed iterations per runtime.
func WithRuns(n int) Option { return func(o *options) { o.runs = n } }

// WithWarmup sets the uncounted iterations per runtime before the timed ones.
func WithWarmup(n int) Option { return func(o *options) { o.warmup = n } }

// WithLamina sets the path of the lamina binary.
func WithLamina(path string) Option { return func(o *options) { o.lamina = path } }

// WithPeers sets the other runtimes to compare with, by program name or
// path (default runc and crun); those not installed are left out.
func WithPeers(names ...string) Option { return func(o *options) { o.peers = names } }

// WithProgress sets where progress lines go (default: nowhere).
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }
