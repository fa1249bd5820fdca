package pull

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/store"
)

// fastRetry keeps the retry tests quick: 5 attempts, millisecond waits.
var fastRetry = WithRetry(Backoff{Attempts: 5, Initial: time.Millisecond, Max: 4 * time.Millisecond, Factor: 2, Jitter: 0.5})

// randomLayer is a gzip layer of one file of n random bytes (so that the
// blob is about n bytes: random data does not compress).
func randomLayer(t testing.TB, n int) *testLayer {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return newLayer(t, tarOf(t, "data", string(b)), types.OCILayer)
}

// flaky counts requests per path kind ("blob": GETs of the blob named
// layer; "manifest": manifest GETs) and lets fail decide, per request,
// whether to answer it with a status of its own (0: pass it through).
type flaky struct {
	layer string // the layer blob's digest
	mu    sync.Mutex
	calls map[string]int // "blob" or "manifest" → requests so far
	fail  func(kind string, n int, r *http.Request) int
}

func (f *flaky) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := ""
		switch {
		case f.layer != "" && strings.HasSuffix(r.URL.Path, "/blobs/"+f.layer) && r.Method == http.MethodGet:
			kind = "blob"
		case strings.Contains(r.URL.Path, "/manifests/") && r.Method == http.MethodGet:
			kind = "manifest"
		}
		if kind != "" {
			f.mu.Lock()
			f.calls[kind]++
			n := f.calls[kind]
			f.mu.Unlock()
			if code := f.fail(kind, n, r); code != 0 {
				if code == http.StatusTooManyRequests {
					w.Header().Set("Retry-After", "0")
				}
				http.Error(w, http.StatusText(code), code)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (f *flaky) count(kind string) int { f.mu.Lock(); defer f.mu.Unlock(); return f.calls[kind] }

// assertNothingStored fails if a failed pull left anything in the store.
func assertNothingStored(t *testing.T, st *store.Store) {
	t.Helper()
	for _, d := range []string{"layers", "tmp", "blobs/sha256"} {
		ents, _ := os.ReadDir(filepath.Join(st.Root(), d))
		if len(ents) != 0 {
			t.Errorf("%s not empty after a failed pull: %v", d, ents)
		}
	}
	if imgs, _ := st.Images(); len(imgs) != 0 {
		t.Errorf("index has %v", imgs)
	}
}

func TestPullRetries(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(kind string, n int, r *http.Request) int
		wantErr   error  // nil: the pull succeeds
		wantMsg   string // in the error
		wantCalls map[string]int
	}{
		{
			name: "blob 503 twice then ok",
			fail: func(kind string, n int, _ *http.Request) int {
				if kind == "blob" && n <= 2 {
					return http.StatusServiceUnavailable
				}
				return 0
			},
			wantCalls: map[string]int{"blob": 3},
		},
		{
			name: "manifest 429 then 502 then ok",
			fail: func(kind string, n int, _ *http.Request) int {
				if kind == "manifest" && n <= 2 {
					return []int{http.StatusTooManyRequests, http.StatusBadGateway}[n-1]
				}
				return 0
			},
		},
		{
			name: "blob always 503",
			fail: func(kind string, _ int, _ *http.Request) int {
				if kind == "blob" {
					return http.StatusServiceUnavailable
				}
				return 0
			},
			wantErr:   oci.ErrUnavailable,
			wantMsg:   "fetch blob: 503 Service Unavailable after 5 attempts",
			wantCalls: map[string]int{"blob": 5},
		},
		{
			name: "blob 403 is not retried",
			fail: func(kind string, _ int, _ *http.Request) int {
				if kind == "blob" {
					return http.StatusForbidden
				}
				return 0
			},
			wantErr:   oci.ErrUnauthorized,
			wantCalls: map[string]int{"blob": 1},
		},
		{
			name: "manifest 400 is not retried",
			fail: func(kind string, _ int, _ *http.Request) int {
				if kind == "manifest" {
					return http.StatusBadRequest
				}
				return 0
			},
			wantErr:   errAny,
			wantCalls: map[string]int{"manifest": 1, "blob": 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{calls: map[string]int{}, fail: tc.fail}
			host := memRegistry(t, f.wrap)
			l := randomLayer(t, 64<<10)
			push(t, host+"/app:v1", image(t, true, l))
			d, _ := l.Digest()
			f.mu.Lock()
			f.layer = d.String()
			f.calls = map[string]int{} // the push's requests do not count
			f.mu.Unlock()
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = Image(ctxT(t), st, host+"/app:v1", fastRetry)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("pull: %v", err)
			case tc.wantErr == errAny && err == nil, tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(fmt.Sprint(err), tc.wantMsg) {
				t.Errorf("err = %v, want it to contain %q", err, tc.wantMsg)
			}
			if tc.wantErr != nil {
				assertNothingStored(t, st)
			} else if _, err := st.Resolve(host + "/app:v1"); err != nil {
				t.Errorf("resolve after pull: %v", err)
			}
			for kind, want := range tc.wantCalls {
				if got := f.count(kind); got != want {
					t.Errorf("%s requests = %d, want %d", kind, got, want)
				}
			}
		})
	}
}

// errAny in a test table: any error will do.
var errAny = errors.New("any error")

func TestPullRetryErrorType(t *testing.T) {
	f := &flaky{calls: map[string]int{}, fail: func(kind string, _ int, _ *http.Request) int {
		if kind == "blob" {
			return http.StatusBadGateway
		}
		return 0
	}}
	host := memRegistry(t, f.wrap)
	l := randomLayer(t, 1<<10)
	push(t, host+"/app:v1", image(t, true, l))
	d, _ := l.Digest()
	f.mu.Lock()
	f.layer = d.String()
	f.mu.Unlock()
	st, _ := store.Open(t.TempDir())
	_, err := Image(ctxT(t), st, host+"/app:v1", WithRetry(Backoff{Attempts: 3, Initial: time.Millisecond, Max: time.Millisecond}))
	var re *oci.RetryError
	if !errors.As(err, &re) || re.Attempts != 3 || re.StatusCode != http.StatusBadGateway {
		t.Fatalf("err = %#v, want a RetryError after 3 attempts with 502", err)
	}
	if !strings.Contains(err.Error(), d.String()) {
		t.Errorf("err = %v, want it to name the blob %s", err, d)
	}
}

// TestPullRetryCanceled: a context canceled during a backoff wait ends the
// pull at once, not after the wait.
func TestPullRetryCanceled(t *testing.T) {
	f := &flaky{calls: map[string]int{}, fail: func(kind string, _ int, _ *http.Request) int {
		if kind == "manifest" {
			return http.StatusServiceUnavailable
		}
		return 0
	}}
	host := memRegistry(t, f.wrap)
	push(t, host+"/app:v1", image(t, true, randomLayer(t, 1<<10)))
	st, _ := store.Open(t.TempDir())
	ctx, cancel := context.WithCancel(ctxT(t))
	go func() {
		for f.count("manifest") == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	// The waits would add up to hours; the test's 30 s context is the watchdog.
	_, err := Image(ctx, st, host+"/app:v1", WithRetry(Backoff{Attempts: 5, Initial: time.Hour, Max: time.Hour, Factor: 1}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := f.count("manifest"); n != 1 {
		t.Errorf("manifest requests = %d, want 1", n)
	}
	assertNothingStored(t, st)
}

// breakingBlobs serves the blob with digest dig cut off after half its bytes
// on the first `breaks` requests (the connection is aborted, or with stall
// left open and silent), then serves it whole or, with ranges, honours
// "Range: bytes=N-" with a 206.
type breakingBlobs struct {
	dig    string
	breaks int
	ranges bool
	stall  bool
	short  bool // end the cut body cleanly, with a Content-Length to match
	stuck  bool // requests after the first break off before any body byte

	mu      sync.Mutex
	n       int
	rangesS []string // Range headers seen
}

func (b *breakingBlobs) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+b.dig) {
			h.ServeHTTP(w, r)
			return
		}
		b.mu.Lock()
		b.n++
		n := b.n
		b.rangesS = append(b.rangesS, r.Header.Get("Range"))
		b.mu.Unlock()
		rec := httptest.NewRecorder()
		inner := r.Clone(r.Context())
		inner.Header.Del("Range")
		h.ServeHTTP(rec, inner)
		body := rec.Body.Bytes()
		start := 0
		if rg := r.Header.Get("Range"); rg != "" && b.ranges {
			s, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			start = s
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", s, len(body)-1, len(body)))
		}
		rest := body[start:]
		cut := len(rest) / 2
		if b.stuck && n > 1 {
			cut = 0
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(rest)))
		if n <= b.breaks && b.short {
			w.Header().Set("Content-Length", strconv.Itoa(cut))
		}
		if start > 0 {
			w.WriteHeader(http.StatusPartialContent)
		}
		if n <= b.breaks {
			w.Write(rest[:cut])
			w.(http.Flusher).Flush()
			if b.short {
				return
			}
			if b.stall {
				<-r.Context().Done() // silent until the client gives up
				return
			}
			panic(http.ErrAbortHandler) // the client sees the body cut short
		}
		w.Write(body[start:])
	})
}

func TestPullResumesBrokenBlob(t *testing.T) {
	tests := []struct {
		name       string
		breaks     int
		ranges     bool
		wantErr    error
		stall      bool
		short      bool
		stuck      bool
		wantRanged bool // a later request asked for a range
	}{
		{name: "resumed with Range", breaks: 2, ranges: true, wantRanged: true},
		{name: "Range ignored, restarted", breaks: 2, ranges: false},
		// More break-offs than the 5 attempts, each after some progress.
		{name: "cut every time after progress", breaks: 8, ranges: true, wantRanged: true},
		{name: "always cut short", breaks: 100, ranges: true, stuck: true, wantErr: oci.ErrUnreachable},
		{name: "short body, resumed", breaks: 2, ranges: true, short: true, wantRanged: true},
		{name: "always short", breaks: 100, ranges: true, short: true, stuck: true, wantErr: oci.ErrUnreachable},
		{name: "stalls, resumed", breaks: 2, ranges: true, stall: true, wantRanged: true},
		{name: "always stalls", breaks: 100, ranges: true, stall: true, stuck: true, wantErr: oci.ErrUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := randomLayer(t, 512<<10)
			d, _ := l.Digest()
			bb := &breakingBlobs{dig: d.String(), breaks: tc.breaks, ranges: tc.ranges, stall: tc.stall, short: tc.short, stuck: tc.stuck}
			host := memRegistry(t, bb.wrap)
			push(t, host+"/app:v1", image(t, true, l))
			bb.mu.Lock()
			bb.n, bb.rangesS = 0, nil
			bb.mu.Unlock()
			st, _ := store.Open(t.TempDir())
			opts := []Option{fastRetry}
			if tc.stall {
				// Only the stalling cases need a short stall timeout (the
				// stalled requests wait until it fires); a healthy response
				// on a loaded machine may pause longer, so their request
				// count is a lower bound.
				opts = append(opts, WithStallTimeout(300*time.Millisecond))
			}
			_, err := Image(ctxT(t), st, host+"/app:v1", opts...)
			if tc.wantErr != nil {
				var re *oci.RetryError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &re) {
					t.Fatalf("err = %v, want a RetryError matching %v", err, tc.wantErr)
				}
				assertNothingStored(t, st)
				return
			}
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			im, err := st.Resolve(host + "/app:v1")
			if err != nil {
				t.Fatal(err)
			}
			dirs, _, err := st.LayerDirs(im.Descriptor.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(filepath.Join(dirs[0], "data")); err != nil || fi.Size() != 512<<10 {
				t.Errorf("data: %v %v", fi, err)
			}
			bb.mu.Lock()
			defer bb.mu.Unlock()
			if bb.n != tc.breaks+1 && !(tc.stall && bb.n > tc.breaks+1) {
				t.Errorf("blob requests = %d, want %d", bb.n, tc.breaks+1)
			}
			ranged := false
			for _, r := range bb.rangesS[1:] {
				ranged = ranged || r != ""
			}
			if bb.rangesS[0] != "" || ranged != tc.wantRanged && tc.ranges {
				t.Errorf("Range headers %q", bb.rangesS)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	b := Backoff{Attempts: 5, Initial: 100 * time.Millisecond, Max: time.Second, Factor: 3}
	tests := []struct {
		name       string
		n          int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first", 1, 0, 100 * time.Millisecond},
		{"second", 2, 0, 300 * time.Millisecond},
		{"third", 3, 0, 900 * time.Millisecond},
		{"capped", 4, 0, time.Second},
		{"retry-after", 1, 500 * time.Millisecond, 500 * time.Millisecond},
		{"retry-after capped", 1, time.Hour, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.delay(tc.n, tc.retryAfter); got != tc.want {
				t.Errorf("delay(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
	j := b
	j.Jitter = 0.2
	for range 100 {
		if d := j.delay(2, 0); d < 240*time.Millisecond || d > 360*time.Millisecond {
			t.Fatalf("jittered delay %v outside 300 ms ± 20%%", d)
		}
	}
}

func TestRetryableStatus(t *testing.T) {
	tests := []struct {
		name string
		code int
		want bool
	}{
		{"ok", http.StatusOK, false},
		{"bad request", http.StatusBadRequest, false},
		{"unauthorized (re-auth, not retry)", http.StatusUnauthorized, false},
		{"not found", http.StatusNotFound, false},
		{"request timeout is a 4xx", http.StatusRequestTimeout, false},
		{"too many requests", http.StatusTooManyRequests, true},
		{"internal error", http.StatusInternalServerError, true},
		{"not implemented", http.StatusNotImplemented, false},
		{"bad gateway", http.StatusBadGateway, true},
		{"unavailable", http.StatusServiceUnavailable, true},
		{"gateway timeout", http.StatusGatewayTimeout, true},
		{"http version", http.StatusHTTPVersionNotSupported, false},
		{"cloudflare 522", 522, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryableStatus(tc.code); got != tc.want {
				t.Errorf("retryableStatus(%d) = %v, want %v", tc.code, got, tc.want)
			}
		})
	}
}

// FuzzRangeStart: Content-Range comes from the registry (or storage). A
// parsed start is never negative, and only "bytes DIGITS-..." parses.
func FuzzRangeStart(f *testing.F) {
	for _, s := range []string{"bytes 100-199/200", "bytes 0-0/1", "bytes */200", "bytes -5-3/4", "bytes +5-6/7", "items 1-2/3", "", "bytes 99999999999999999999-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := rangeStart(s)
		if !ok {
			return
		}
		start, _, _ := strings.Cut(strings.TrimPrefix(s, "bytes "), "-")
		if n < 0 || !strings.HasPrefix(s, "bytes ") || strings.Trim(start, "0123456789") != "" {
			t.Fatalf("rangeStart(%q) = %d, true", s, n)
		}
	})
}

// TestPullStalledHeaders: a registry that accepts a request and then says
// nothing is given up on after the stall timeout and asked again.
func TestPullStalledHeaders(t *testing.T) {
	tests := []struct {
		name    string
		stalls  int // manifest requests left unanswered
		wantErr error
	}{
		{name: "once", stalls: 1},
		{name: "always", stalls: 100, wantErr: oci.ErrUnreachable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			host := memRegistry(t, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/v1") {
						mu.Lock()
						n++
						stall := n <= tc.stalls
						mu.Unlock()
						if stall {
							<-r.Context().Done()
							return
						}
					}
					h.ServeHTTP(w, r)
				})
			})
			push(t, host+"/app:v1", image(t, true, randomLayer(t, 1<<10)))
			st, _ := store.Open(t.TempDir())
			// The timeout applies to every request of the pull, so it is
			// long enough for a healthy response on a loaded machine; the
			// stalled ones wait until it fires.
			_, err := Image(ctxT(t), st, host+"/app:v1", fastRetry, WithStallTimeout(time.Second))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("pull: %v", err)
				}
				return
			}
			var se *stallError
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &se) {
				t.Fatalf("err = %v, want a stall after retries (%v)", err, tc.wantErr)
			}
			assertNothingStored(t, st)
		})
	}
}
