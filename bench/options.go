package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Option configures Run.
type Option func(*options)

type options struct {
	runs          int
	unionmount    string
	cache         string
	scratch       string
	mirror        string
	tree          string
	configs       []string
	workloads     []string
	bigSize       int64
	keep          bool
	progress      io.Writer
	started       time.Time // when Run started, for progress lines
	pageReporting string    // what was done to free page reporting (pagereport.go)
}

// Defaults, in one place.
const (
	DefaultRuns       = 3
	DefaultUnionmount = "bin/unionmount"
	DefaultCache      = "/var/cache/lamina-bench/rootfs"
	DefaultScratch    = "/var/tmp/lamina-bench"
	DefaultBigSize    = 1 << 30
	fallbackMirror    = "http://deb.debian.org/debian"
)

func defaultOptions() options {
	return options{
		runs:       DefaultRuns,
		unionmount: DefaultUnionmount,
		cache:      DefaultCache,
		scratch:    DefaultScratch,
		tree:       "debootstrap",
		bigSize:    DefaultBigSize,
		progress:   io.Discard,
	}
}

// WithRuns sets how many timed runs each cell gets; the cell is their median.
func WithRuns(n int) Option { return func(o *options) { o.runs = n } }

// WithUnionmount sets the path of lamina's unionmount binary.
func WithUnionmount(path string) Option { return func(o *options) { o.unionmount = path } }

// WithCache sets where the debootstrap tree is kept between runs.
func WithCache(dir string) Option { return func(o *options) { o.cache = dir } }

// WithScratch sets the directory for layers, uppers and mount points. It must
// be on the disk that ext4 is measured on, and is removed at the start and
// the end of the run.
func WithScratch(dir string) Option { return func(o *options) { o.scratch = dir } }

// WithMirror sets the Debian mirror for debootstrap; empty means the one apt
// is configured with.
func WithMirror(url string) Option { return func(o *options) { o.mirror = url } }

// WithTree chooses the tree: "debootstrap" (falling back to busybox when it
// cannot be had) or "busybox".
func WithTree(kind string) Option { return func(o *options) { o.tree = kind } }

// WithConfigs limits the run to the named configurations; none means all.
func WithConfigs(names ...string) Option { return func(o *options) { o.configs = names } }

// WithWorkloads limits the run to the named workloads; none means all.
func WithWorkloads(names ...string) Option { return func(o *options) { o.workloads = names } }

// WithBigSize sets the size of the large file for seq-read and copyup-big.
func WithBigSize(n int64) Option { return func(o *options) { o.bigSize = n } }

// WithKeep keeps the scratch directory (layers, tarball) after the run.
func WithKeep(keep bool) Option { return func(o *options) { o.keep = keep } }

// WithProgress sets where progress lines go; by default nowhere.
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

func (o *options) logf(format string, args ...any) {
	prefix := "benchfs: "
	if !o.started.IsZero() {
		d := time.Since(o.started).Round(time.Second)
		prefix += fmt.Sprintf("%02d:%02d ", int(d.Minutes()), int(d.Seconds())%60)
	}
	fmt.Fprintf(o.progress, prefix+format+"\n", args...)
}

func (o *options) validate() error {
	if o.runs < 1 {
		return fmt.Errorf("check runs: %d is less than 1", o.runs)
	}
	if o.tree != "debootstrap" && o.tree != "busybox" {
		return fmt.Errorf("check tree: %q is neither debootstrap nor busybox", o.tree)
	}
	if o.bigSize < 1<<20 {
		return fmt.Errorf("check big file size: %d is less than 1 MiB", o.bigSize)
	}
	for _, p := range []*string{&o.scratch, &o.cache} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", *p, err)
		}
		*p = abs
	}
	if o.scratch == "/" || o.cache == "/" {
		return fmt.Errorf("check directories: scratch and cache must not be /")
	}
	if strings.Contains(o.unionmount, "/") {
		abs, err := filepath.Abs(o.unionmount)
		if err != nil {
			return fmt.Errorf("resolve %s: %w", o.unionmount, err)
		}
		o.unionmount = abs
	}
	for _, n := range o.workloads {
		if !slices.Contains(WorkloadNames, n) {
			return fmt.Errorf("select workload %q: not one of %s", n, strings.Join(WorkloadNames, ", "))
		}
	}
	if o.mirror == "" {
		o.mirror = aptMirror()
	}
	return nil
}

// aptMirror returns the Debian mirror apt uses for bookworm (not the security
// archive), read from /etc/apt/sources.list and sources.list.d, in both the
// one-line and the deb822 format.
func aptMirror() string {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append([]string{"/etc/apt/sources.list"}, files...)
	more, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	files = append(files, more...)
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		url := mirrorFrom(f)
		f.Close()
		if url != "" {
			return url
		}
	}
	return fallbackMirror
}

// mirrorFrom returns the first URI serving the plain "bookworm" suite in an
// apt sources file.
func mirrorFrom(r io.Reader) string {
	var uris, suites []string
	flush := func() string {
		defer func() { uris, suites = nil, nil }()
		for _, s := range suites {
			if s == "bookworm" && len(uris) > 0 {
				return uris[0]
			}
		}
		return ""
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			if u := flush(); u != "" {
				return u
			}
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "deb":
			// deb [opts] URI SUITE COMPONENTS...
			rest := f[1:]
			if len(rest) > 0 && strings.HasPrefix(rest[0], "[") {
				for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
					rest = rest[1:]
				}
				if len(rest) > 0 {
					rest = rest[1:]
				}
			}
			if len(rest) >= 2 && rest[1] == "bookworm" {
				return rest[0]
			}
		case strings.EqualFold(f[0], "URIs:"):
			uris = f[1:]
		case strings.EqualFold(f[0], "Suites:"):
			suites = f[1:]
		}
	}
	return flush()
}
