package main

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/oci"
)

// screen replays what a terminal would show for out, understanding the
// only escapes ttyProgress writes: cursor up (ESC [ n A) and clear line
// (ESC [ 2K). It fails on any other escape.
func screen(t *testing.T, out string) []string {
	t.Helper()
	var lines []string
	row := 0
	esc := regexp.MustCompile(`^\x1b\[(\d*)([A-Za-z])`)
	for len(out) > 0 {
		if m := esc.FindStringSubmatch(out); m != nil {
			switch m[2] {
			case "A":
				n, _ := strconv.Atoi(m[1])
				row -= n
				if row < 0 {
					t.Fatalf("cursor moved above the first line")
				}
			case "K":
				if row < len(lines) {
					lines[row] = ""
				}
			default:
				t.Fatalf("unexpected escape %q", m[0])
			}
			out = out[len(m[0]):]
			continue
		}
		i := strings.IndexAny(out, "\n\x1b")
		if i < 0 {
			i = len(out)
		}
		for len(lines) <= row {
			lines = append(lines, "")
		}
		lines[row] += out[:i]
		out = out[i:]
		if strings.HasPrefix(out, "\n") {
			row++
			out = out[1:]
		}
	}
	return lines
}

const (
	dA = "sha256:aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000"
	dB = "sha256:bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000"
	dC = "sha256:cccccccccccc0000000000000000000000000000000000000000000000000000"
)

func TestTTYProgress(t *testing.T) {
	type step struct {
		after time.Duration // of fake time before the event
		ev    oci.Progress
	}
	ev := func(d string, s oci.Status, cur, total int64) oci.Progress {
		return oci.Progress{Digest: d, Status: s, Current: cur, Total: total}
	}
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{
			name: "download in progress",
			steps: []step{
				{0, ev(dA, oci.StatusExists, 0, 1000)},
				{0, ev(dB, oci.StatusWaiting, 0, 40_100_000)},
				{0, ev(dB, oci.StatusDownloading, 0, 40_100_000)},
				{2 * time.Second, ev(dB, oci.StatusDownloading, 12_300_000, 40_100_000)},
			},
			want: []string{
				"aaaaaaaaaaaa: Already exists",
				"bbbbbbbbbbbb: Downloading  12.3MB/40.1MB  6.2MB/s",
			},
		},
		{
			name: "complete",
			steps: []step{
				{0, ev(dA, oci.StatusWaiting, 0, 2048)},
				{0, ev(dB, oci.StatusWaiting, 0, 999)},
				{0, ev(dA, oci.StatusDownloading, 0, 2048)},
				{time.Second, ev(dA, oci.StatusDownloading, 2048, 2048)},
				{0, ev(dA, oci.StatusVerifying, 2048, 2048)},
				{0, ev(dA, oci.StatusVerified, 2048, 2048)},
				{0, ev(dA, oci.StatusDone, 2048, 2048)},
				{0, ev(dB, oci.StatusDownloading, 0, 999)},
				{0, ev(dB, oci.StatusVerifying, 999, 999)},
			},
			want: []string{
				"aaaaaaaaaaaa: Pull complete",
				"bbbbbbbbbbbb: Verifying",
			},
		},
		{
			name: "new layers append lines",
			steps: []step{
				{0, ev(dA, oci.StatusWaiting, 0, 1)},
				{0, ev(dB, oci.StatusWaiting, 0, 1)},
				{0, ev(dC, oci.StatusExists, 0, 1)},
				{0, ev(dB, oci.StatusDone, 1, 1)},
			},
			want: []string{
				"aaaaaaaaaaaa: Waiting",
				"bbbbbbbbbbbb: Pull complete",
				"cccccccccccc: Already exists",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			now := time.Unix(1700000000, 0)
			p := &ttyProgress{w: &buf, now: func() time.Time { return now }}
			for _, s := range tc.steps {
				now = now.Add(s.after)
				p.print(s.ev)
			}
			p.done()
			got := screen(t, buf.String())
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestTTYProgressThrottle: download events closer than redrawEvery do not
// redraw; a status change always does.
func TestTTYProgressThrottle(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1700000000, 0)
	p := &ttyProgress{w: &buf, now: func() time.Time { return now }}
	p.print(oci.Progress{Digest: dA, Status: oci.StatusDownloading, Total: 100 << 20})
	draws := func() int { return strings.Count(buf.String(), "\x1b[2K") }
	for i := range 50 {
		now = now.Add(time.Millisecond)
		p.print(oci.Progress{Digest: dA, Status: oci.StatusDownloading, Current: int64(i) << 20, Total: 100 << 20})
	}
	if n := draws(); n != 1 {
		t.Errorf("%d draws for 50 events within 50 ms, want 1", n)
	}
	now = now.Add(redrawEvery)
	p.print(oci.Progress{Digest: dA, Status: oci.StatusDownloading, Current: 60 << 20, Total: 100 << 20})
	p.print(oci.Progress{Digest: dA, Status: oci.StatusVerifying, Current: 100 << 20, Total: 100 << 20})
	if n := draws(); n != 3 {
		t.Errorf("%d draws, want 3", n)
	}
}

func TestPlainProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressSink(&buf) // not a terminal
	if _, ok := p.(*progressPrinter); !ok {
		t.Fatalf("a buffer got %T, want the plain printer", p)
	}
	p.print(oci.Progress{Digest: dA, Status: oci.StatusExists})
	p.print(oci.Progress{Digest: dB, Status: oci.StatusDownloading, Current: 0, Total: 100})
	p.print(oci.Progress{Digest: dB, Status: oci.StatusDownloading, Current: 5, Total: 100}) // < 10%: skipped
	p.print(oci.Progress{Digest: dB, Status: oci.StatusDownloading, Current: 50, Total: 100})
	p.print(oci.Progress{Digest: dB, Status: oci.StatusDone, Current: 100, Total: 100})
	p.done()
	want := "aaaaaaaaaaaa: already exists\nbbbbbbbbbbbb: downloading 0/100 bytes\nbbbbbbbbbbbb: downloading 50/100 bytes\nbbbbbbbbbbbb: pull complete\n"
	if buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
	if strings.Contains(buf.String(), "\x1b") {
		t.Errorf("escape codes in plain output")
	}
}

func TestHumanBytes(t *testing.T) {
	tests := []struct {
		name string
		n    int64
		want string
	}{
		{"bytes", 999, "999B"},
		{"kilo", 12_345, "12.3kB"},
		{"mega", 40_100_000, "40.1MB"},
		{"giga", 2_500_000_000, "2.5GB"},
		{"tera cap", 5_000_000_000_000_000, "5000.0TB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := humanBytes(tc.n); got != tc.want {
				t.Errorf("humanBytes(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
}

func TestParseCreds(t *testing.T) {
	tests := []struct {
		name, in, user, pass, err string
	}{
		{name: "plain", in: "alice:secret", user: "alice", pass: "secret"},
		{name: "colon in password", in: "alice:a:b", user: "alice", pass: "a:b"},
		{name: "no colon", in: "alice", err: "no colon"},
		{name: "empty user", in: ":secret", err: "empty user"},
		{name: "empty password", in: "alice:", err: "empty password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, p, err := parseCreds(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--creds") {
					t.Fatalf("err = %v, want one naming --creds and %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error echoes the password: %v", err)
				}
				return
			}
			if err != nil || u != tc.user || p != tc.pass {
				t.Errorf("parseCreds(%q) = %q, %q, %v", tc.in, u, p, err)
			}
		})
	}
}
