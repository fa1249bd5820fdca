package unpack

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/lamina-dev/lamina/bench"
	"github.com/lamina-dev/lamina/oci/layer"
	"github.com/lamina-dev/lamina/oci/pull"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"
)

// Option configures Run.
type Option func(*options)

type options struct {
	runs     int
	scratch  string
	tree     string // "debootstrap" or "generated"
	genFiles int
	umoci    string
	progress io.Writer
	profile  io.Writer // CPU profile of the timed rounds, or nil
}

// Defaults, in one place.
const (
	DefaultRuns     = 5
	DefaultScratch  = "/var/tmp/lamina-bench-unpack"
	DefaultGenFiles = 8000
)

func defaults() options {
	return options{runs: DefaultRuns, scratch: DefaultScratch, tree: "debootstrap", genFiles: DefaultGenFiles, umoci: "umoci", progress: io.Discard}
}

// WithRuns sets the timed rounds (default 5).
func WithRuns(n int) Option { return func(o *options) { o.runs = n } }

// WithScratch sets the directory for the layout and the unpacked copies
// (default /var/tmp/lamina-bench-unpack; emptied first and removed after).
func WithScratch(dir string) Option { return func(o *options) { o.scratch = dir } }

// WithTree picks the tree: "debootstrap" (default; falls back to a generated
// tree when it cannot be had) or "generated".
func WithTree(kind string) Option { return func(o *options) { o.tree = kind } }

// WithCPUProfile writes a pprof CPU profile of the timed rounds to w (what
// lamina's contenders spend; umoci runs in its own process).
func WithCPUProfile(w io.Writer) Option { return func(o *options) { o.profile = w } }

// WithProgress sets where progress lines go (default: nowhere).
func WithProgress(w io.Writer) Option { return func(o *options) { o.progress = w } }

// Contender names, in report order.
const (
	Umoci        = "umoci unpack"
	LaminaPull   = "lamina pull"
	LaminaUnpack = "lamina unpack"
)

// Result is a finished run.
type Result struct {
	Tree    string // what the tree is
	Image   *Image
	Times   map[string][]time.Duration // contender → one per round
	Umoci   string                     // umoci --version
	Started time.Time
}

// Median returns the median time of contender c.
func (r *Result) Median(c string) time.Duration {
	ts := slices.Clone(r.Times[c])
	slices.Sort(ts)
	if len(ts) == 0 {
		return 0
	}
	if len(ts)%2 == 1 {
		return ts[len(ts)/2]
	}
	return (ts[len(ts)/2-1] + ts[len(ts)/2]) / 2
}

// Run builds the image and times the contenders. It must run as root (umoci
// keeps owners only then, and lamina writes whiteouts as devices).
func Run(ctx context.Context, opts ...Option) (*Result, error) {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	if o.runs < 1 {
		return nil, fmt.Errorf("check runs: %d is less than 1", o.runs)
	}
	if o.tree != "debootstrap" && o.tree != "generated" {
		return nil, fmt.Errorf("check tree: %q is neither debootstrap nor generated", o.tree)
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("run benchmark: needs root")
	}
	ver, err := exec.CommandContext(ctx, o.umoci, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("run %s --version: %w (apt-get install umoci)", o.umoci, err)
	}
	res := &Result{Times: map[string][]time.Duration{}, Umoci: strings.TrimSpace(string(ver)), Started: time.Now()}
	logf := func(format string, a ...any) { fmt.Fprintf(o.progress, "benchunpack: "+format+"\n", a...) }

	if err := os.RemoveAll(o.scratch); err != nil {
		return nil, fmt.Errorf("clean scratch: %w", err)
	}
	if err := os.MkdirAll(o.scratch, 0o755); err != nil {
		return nil, fmt.Errorf("create scratch: %w", err)
	}
	defer os.RemoveAll(o.scratch)

	tree := ""
	if o.tree == "debootstrap" {
		tree, err = bench.DebianTree(ctx, bench.WithProgress(o.progress))
		if err == nil {
			res.Tree = "Debian bookworm minbase + python3 (debootstrap), cached at " + tree
		} else if ctx.Err() != nil {
			return nil, err
		} else {
			logf("FALLING BACK to a generated tree: %v", err)
			res.Tree = fmt.Sprintf("FALLBACK generated tree (debootstrap unavailable: %v)", err)
		}
	}
	if tree == "" {
		tree = filepath.Join(o.scratch, "tree")
		if err := generateTree(tree, o.genFiles); err != nil {
			return nil, fmt.Errorf("generate tree: %w", err)
		}
		if res.Tree == "" {
			res.Tree = fmt.Sprintf("generated: %d files of mixed sizes, symlinks, hard links", o.genFiles)
		}
	}
	logf("writing the OCI layout from %s", tree)
	img, err := writeImage(tree, filepath.Join(o.scratch, "layout"))
	if err != nil {
		return nil, err
	}
	res.Image = img

	host, stop, err := serveImage(img)
	if err != nil {
		return nil, err
	}
	defer stop()

	contenders := []struct {
		name string
		run  func(ctx context.Context, dir string) error
	}{
		{Umoci, func(ctx context.Context, dir string) error { return runUmoci(ctx, o.umoci, img, dir) }},
		{LaminaPull, func(ctx context.Context, dir string) error { return runPull(ctx, host, img, dir) }},
		{LaminaUnpack, func(ctx context.Context, dir string) error { return runUnpack(ctx, img, dir) }},
	}
	for round := 0; round <= o.runs; round++ { // round 0 warms up
		if round == 1 && o.profile != nil {
			if err := pprof.StartCPUProfile(o.profile); err != nil {
				return nil, fmt.Errorf("start CPU profile: %w", err)
			}
			defer pprof.StopCPUProfile()
		}
		for _, c := range contenders {
			dir := filepath.Join(o.scratch, fmt.Sprintf("out-%d", round))
			start := time.Now()
			err := c.run(ctx, dir)
			took := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("run %s: %w", c.name, err)
			}
			if round > 0 {
				res.Times[c.name] = append(res.Times[c.name], took)
			}
			logf("round %d/%d %-14s %.3fs", round, o.runs, c.name, took.Seconds())
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("remove %s: %w", dir, err)
			}
		}
	}
	return res, nil
}

// serveImage pushes img to an in-memory registry on a loopback port.
func serveImage(img *Image) (host string, stop func(), err error) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	host = strings.TrimPrefix(srv.URL, "http://")
	idx, err := layout.ImageIndexFromPath(img.Layout)
	if err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("read layout: %w", err)
	}
	h, err := v1.NewHash(digest.FromBytes(img.Manifest).String())
	if err != nil {
		srv.Close()
		return "", nil, err
	}
	im, err := idx.Image(h)
	if err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("read layout: %w", err)
	}
	ref, err := name.ParseReference(host + "/bench:v1")
	if err != nil {
		srv.Close()
		return "", nil, err
	}
	if err := remote.Write(ref, im); err != nil {
		srv.Close()
		return "", nil, fmt.Errorf("push benchmark image: %w", err)
	}
	return host, srv.Close, nil
}

func runUmoci(ctx context.Context, umoci string, img *Image, dir string) error {
	out, err := exec.CommandContext(ctx, umoci, "unpack", "--image", img.Layout+":"+refName, dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return checkCount(filepath.Join(dir, "rootfs"), img.Entries)
}

func runPull(ctx context.Context, host string, img *Image, dir string) error {
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	if _, err := pull.Image(ctx, st, host+"/bench:v1"); err != nil {
		return err
	}
	for _, l := range img.Layers {
		if err := checkCount(st.LayerPath(l.DiffID), l.Entries); err != nil {
			return err
		}
	}
	return nil
}

// runUnpack is the oci/layer part of a pull alone: each layer's blob is
// read, hashed, decompressed, its tar hashed and unpacked, layers in
// parallel.
func runUnpack(ctx context.Context, img *Image, dir string) error {
	g, ctx := errgroup.WithContext(ctx)
	for i, l := range img.Layers {
		g.Go(func() error {
			out := filepath.Join(dir, fmt.Sprint(i))
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			f, err := os.Open(l.Blob)
			if err != nil {
				return err
			}
			defer f.Close()
			bh, dh := sha256.New(), sha256.New()
			z, err := layer.Decompress(io.TeeReader(f, bh), layer.Gzip)
			if err != nil {
				return err
			}
			defer z.Close()
			tr := io.TeeReader(z, dh)
			if _, err := layer.Unpack(ctx, tr, out); err != nil {
				return err
			}
			if _, err := io.Copy(io.Discard, tr); err != nil {
				return err
			}
			if _, err := io.Copy(io.Discard, io.TeeReader(f, bh)); err != nil {
				return err
			}
			if digest.NewDigestFromBytes(digest.SHA256, bh.Sum(nil)) != l.Digest ||
				digest.NewDigestFromBytes(digest.SHA256, dh.Sum(nil)) != l.DiffID {
				return fmt.Errorf("layer %s: digest mismatch", l.Digest)
			}
			return checkCount(out, l.Entries)
		})
	}
	return g.Wait()
}

// checkCount fails unless dir holds want entries (dir itself excluded).
func checkCount(dir string, want int) error {
	n := -1
	err := filepath.WalkDir(dir, func(_ string, _ fs.DirEntry, err error) error {
		n++
		return err
	})
	if err != nil {
		return fmt.Errorf("count %s: %w", dir, err)
	}
	if n != want {
		return fmt.Errorf("count %s: %d entries, want %d", dir, n, want)
	}
	return nil
}
