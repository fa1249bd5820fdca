package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/lamina-dev/lamina/oci"
	"golang.org/x/term"
)

// progressSink receives a pull's events; done is called once at the end.
type progressSink interface {
	print(oci.Progress)
	done()
}

// newProgressSink draws in place on a terminal, and prints one line per
// event otherwise (a pipe, a log file, CI).
func newProgressSink(w io.Writer) progressSink {
	if isTerminal(w) {
		return &ttyProgress{w: w, now: time.Now}
	}
	return &progressPrinter{w: w}
}

// isTerminal reports whether s (a reader or writer) is a terminal: where
// progress is drawn in place, and where an archive must not be read from
// or written to.
func isTerminal(s any) bool {
	f, ok := s.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// shortDigest is the first 12 hex digits of a digest, as docker prints it.
func shortDigest(d string) string {
	_, hex, ok := strings.Cut(d, ":")
	if !ok {
		hex = d
	}
	return hex[:min(len(hex), 12)]
}

// progressPrinter prints one line per layer event: "<short digest>: <status>
// [bytes]". Download progress is printed at most once per 10% of a layer.
type progressPrinter struct {
	mu   sync.Mutex
	w    io.Writer
	last map[string]int64
}

func (p *progressPrinter) done() {}

func (p *progressPrinter) print(ev oci.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = map[string]int64{}
	}
	short := shortDigest(ev.Digest)
	switch ev.Status {
	case oci.StatusDownloading:
		step := ev.Total / 10
		if ev.Current != 0 && ev.Current-p.last[ev.Digest] < step {
			return
		}
		p.last[ev.Digest] = ev.Current
		fmt.Fprintf(p.w, "%s: downloading %d/%d bytes\n", short, ev.Current, ev.Total)
	default:
		fmt.Fprintf(p.w, "%s: %s\n", short, ev.Status)
	}
}

// ttyProgress keeps one line per layer, in the order the layers were first
// reported, and redraws them all in place: the cursor goes back up over the
// lines drawn last time ("ESC [ n A"), and each line is cleared ("ESC [ 2K")
// and rewritten. Download events redraw at most every redrawEvery; every
// other status change redraws at once.
type ttyProgress struct {
	w   io.Writer
	now func() time.Time

	mu       sync.Mutex // guards the fields below
	order    []string   // layer digests, first-reported first
	rows     map[string]*progressRow
	drawn    int // lines on screen from the last draw
	lastDraw time.Time
}

const redrawEvery = 100 * time.Millisecond

type progressRow struct {
	ev    oci.Progress
	start time.Time // first download event
}

func (p *ttyProgress) print(ev oci.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if p.rows == nil {
		p.rows = map[string]*progressRow{}
	}
	r, ok := p.rows[ev.Digest]
	if !ok {
		r = &progressRow{}
		p.rows[ev.Digest] = r
		p.order = append(p.order, ev.Digest)
	}
	if ev.Status == oci.StatusDownloading && r.start.IsZero() {
		r.start = now
	}
	changed := r.ev.Status != ev.Status
	r.ev = ev
	if ok && !changed && now.Sub(p.lastDraw) < redrawEvery {
		return
	}
	p.drawLocked(now)
}

func (p *ttyProgress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drawLocked(p.now())
}

// drawLocked rewrites every line. Preconditions: p.mu is held.
func (p *ttyProgress) drawLocked(now time.Time) {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	for _, d := range p.order {
		b.WriteString("\x1b[2K")
		b.WriteString(p.rows[d].line(now))
		b.WriteByte('\n')
	}
	io.WriteString(p.w, b.String())
	p.drawn = len(p.order)
	p.lastDraw = now
}

// line is "abcdef012345: Downloading  12.3MB/40.1MB  5.2MB/s" and the like.
func (r *progressRow) line(now time.Time) string {
	ev := r.ev
	label := map[oci.Status]string{
		oci.StatusWaiting:   "Waiting",
		oci.StatusExists:    "Already exists",
		oci.StatusVerifying: "Verifying",
		oci.StatusVerified:  "Download complete",
		oci.StatusDone:      "Pull complete",
	}[ev.Status]
	if ev.Status != oci.StatusDownloading {
		if label == "" {
			label = string(ev.Status)
		}
		return shortDigest(ev.Digest) + ": " + label
	}
	s := fmt.Sprintf("%s: Downloading  %s/%s", shortDigest(ev.Digest), humanBytes(ev.Current), humanBytes(ev.Total))
	if el := now.Sub(r.start).Seconds(); el > 0 && ev.Current > 0 {
		s += "  " + humanBytes(int64(float64(ev.Current)/el)) + "/s"
	}
	return s
}

// humanBytes prints n in decimal units, as docker does: 999B, 12.3kB, 40.1MB.
func humanBytes(n int64) string {
	if n < 1000 {
		return fmt.Sprintf("%dB", n)
	}
	f, i := float64(n)/1000, 0
	for ; f >= 1000 && i < 3; i++ {
		f /= 1000
	}
	return fmt.Sprintf("%.1f%s", f, []string{"kB", "MB", "GB", "TB"}[i])
}
