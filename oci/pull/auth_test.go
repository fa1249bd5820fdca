package pull

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/store"
)

// tokenAuth puts a registry behind Bearer auth the way Docker Hub does: a
// request without a valid token gets 401 and a challenge naming the token
// endpoint (/token on the same server); the endpoint checks Basic
// credentials (when user is set) and issues tokens good for `uses` registry
// requests each, so a long pull sees its token expire and must renew it.
type tokenAuth struct {
	user, pass string
	uses       int

	mu      sync.Mutex
	tokens  map[string]int // token → requests left
	issued  int
	expired int // 401s for a token that had been valid
}

func (a *tokenAuth) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			a.serveToken(w, r)
			return
		}
		if !a.valid(r.Header.Get("Authorization")) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="http://%s/token",service="test",scope="repository:app:pull"`, r.Host))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (a *tokenAuth) serveToken(w http.ResponseWriter, r *http.Request) {
	if a.user != "" {
		if u, p, ok := r.BasicAuth(); !ok || u != a.user || p != a.pass {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
	}
	a.mu.Lock()
	a.issued++
	tok := fmt.Sprintf("tok-%d", a.issued)
	a.tokens[tok] = a.uses
	a.mu.Unlock()
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "expires_in": 60})
}

func (a *tokenAuth) valid(h string) bool {
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	left, known := a.tokens[tok]
	if known && left <= 0 {
		a.expired++
	}
	if !known || left <= 0 {
		return false
	}
	a.tokens[tok] = left - 1
	return true
}

// authRegistry serves one in-memory registry twice: open (for pushing the
// fixtures) and behind a (for the pulls). It returns both host:ports.
func authRegistry(t *testing.T, a *tokenAuth) (open, guarded string) {
	a.tokens = map[string]int{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	o := httptest.NewServer(h)
	t.Cleanup(o.Close)
	g := httptest.NewServer(a.wrap(h))
	t.Cleanup(g.Close)
	return strings.TrimPrefix(o.URL, "http://"), strings.TrimPrefix(g.URL, "http://")
}

// dockerConfig writes a config.json holding user:pass for host into a new
// directory and points DOCKER_CONFIG at it.
func dockerConfig(t *testing.T, host, user, pass string) {
	dir := t.TempDir()
	auths := map[string]any{}
	if host != "" {
		auths[host] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}
	}
	b, _ := json.Marshal(map[string]any{"auths": auths})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
}

func TestPullAuth(t *testing.T) {
	tests := []struct {
		name    string
		user    string   // the token server wants these credentials ("": anonymous)
		uses    int      // requests per token
		config  []string // host-less user, pass for $DOCKER_CONFIG/config.json
		opts    []Option
		wantErr error
		renewed bool // the pull must have renewed an expired token
	}{
		{name: "anonymous token", uses: 100},
		{name: "token expires mid-pull", uses: 2, opts: []Option{WithJobs(1)}, renewed: true},
		{name: "creds option", user: "alice", uses: 100, opts: []Option{WithBasicAuth("alice", "secret")}},
		{name: "docker config", user: "alice", uses: 100, config: []string{"alice", "secret"}},
		{name: "wrong creds", user: "alice", uses: 100, opts: []Option{WithBasicAuth("alice", "guess")}, wantErr: oci.ErrUnauthorized},
		{name: "wrong docker config", user: "alice", uses: 100, config: []string{"alice", "guess"}, wantErr: oci.ErrUnauthorized},
		{name: "no creds", user: "alice", uses: 100, wantErr: oci.ErrUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &tokenAuth{user: tc.user, pass: "secret", uses: tc.uses}
			open, guarded := authRegistry(t, a)
			push(t, open+"/app:v1", image(t, true, randomLayer(t, 4<<10), randomLayer(t, 8<<10), randomLayer(t, 16<<10)))
			if tc.config != nil {
				dockerConfig(t, guarded, tc.config[0], tc.config[1])
			} else {
				dockerConfig(t, "", "", "") // no credentials, whatever the host has
			}
			st, err := store.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = Image(ctxT(t), st, guarded+"/app:v1", append(tc.opts, fastRetry)...)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				assertNothingStored(t, st)
				return
			}
			if err != nil {
				t.Fatalf("pull: %v", err)
			}
			if _, err := st.Resolve(guarded + "/app:v1"); err != nil {
				t.Error(err)
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			if tc.renewed && (a.expired == 0 || a.issued < 2) {
				t.Errorf("no token expired mid-pull (%d issued, %d refused as expired)", a.issued, a.expired)
			}
		})
	}
}

// TestPullCredsFromConfigHost: credentials are picked by registry host.
func TestPullCredsFromConfigHost(t *testing.T) {
	a := &tokenAuth{user: "alice", pass: "secret", uses: 100}
	open, guarded := authRegistry(t, a)
	push(t, open+"/app:v1", image(t, true, randomLayer(t, 1<<10)))
	dockerConfig(t, "other.example:5000", "alice", "secret")
	st, _ := store.Open(t.TempDir())
	if _, err := Image(ctxT(t), st, guarded+"/app:v1", fastRetry); !errors.Is(err, oci.ErrUnauthorized) {
		t.Fatalf("credentials for another host were used: err = %v", err)
	}
}

// recordingTransport answers every request with an error and records it.
type recordingTransport struct {
	mu   sync.Mutex
	urls []string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.urls = append(r.urls, req.URL.String())
	r.mu.Unlock()
	return nil, errors.New("test transport: no network")
}

func TestPullPlainHTTPGuard(t *testing.T) {
	tests := []struct {
		name      string
		ref       string
		insecure  bool
		wantErr   error
		wantPlain bool // a plain-HTTP request reached the network
	}{
		{name: "private address", ref: "10.1.2.3:5000/app:v1", wantErr: oci.ErrPlainHTTP},
		{name: "dot localhost", ref: "registry.localhost:5000/app:v1", wantErr: oci.ErrPlainHTTP},
		{name: "private address insecure", ref: "10.1.2.3:5000/app:v1", insecure: true, wantPlain: true},
		{name: "public name", ref: "registry.example/app:v1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt := &recordingTransport{}
			st, _ := store.Open(t.TempDir())
			_, err := Image(ctxT(t), st, tc.ref, WithTransport(rt), WithInsecure(tc.insecure), WithKeychain(anonymousKeychain{}), fastRetry)
			if err == nil {
				t.Fatal("pull through a transport without network succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && errors.Is(err, oci.ErrPlainHTTP) {
				t.Fatalf("err = %v, want no plain-HTTP refusal", err)
			}
			plain := false
			for _, u := range rt.urls {
				plain = plain || strings.HasPrefix(u, "http:")
			}
			if plain != tc.wantPlain {
				t.Errorf("plain HTTP requests sent: %v, want %v (%q)", plain, tc.wantPlain, rt.urls)
			}
			assertNothingStored(t, st)
		})
	}
}

// TestPullBlobRedirect: blobs redirected to object storage on another
// server are fetched there, without the registry's token.
func TestPullBlobRedirect(t *testing.T) {
	var storageMu sync.Mutex
	var storageAuth []string
	blobs := map[string][]byte{}
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		storageMu.Lock()
		storageAuth = append(storageAuth, r.Header.Get("Authorization"))
		b, ok := blobs[r.URL.Path]
		storageMu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(storage.Close)

	a := &tokenAuth{user: "alice", pass: "secret", uses: 100}
	a.tokens = map[string]int{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := strings.Index(r.URL.Path, "/blobs/sha256:"); i >= 0 && r.Method == http.MethodGet {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			key := "/bucket/" + r.URL.Path[i+len("/blobs/"):]
			storageMu.Lock()
			blobs[key] = rec.Body.Bytes()
			storageMu.Unlock()
			http.Redirect(w, r, storage.URL+key+"?X-Amz-Signature=abc", http.StatusFound)
			return
		}
		h.ServeHTTP(w, r)
	})
	open := httptest.NewServer(h)
	t.Cleanup(open.Close)
	guarded := httptest.NewServer(a.wrap(redirect))
	t.Cleanup(guarded.Close)
	ohost, ghost := strings.TrimPrefix(open.URL, "http://"), strings.TrimPrefix(guarded.URL, "http://")
	push(t, ohost+"/app:v1", image(t, true, randomLayer(t, 32<<10), randomLayer(t, 1<<10)))

	st, _ := store.Open(t.TempDir())
	if _, err := Image(ctxT(t), st, ghost+"/app:v1", WithBasicAuth("alice", "secret"), fastRetry); err != nil {
		t.Fatalf("pull: %v", err)
	}
	storageMu.Lock()
	defer storageMu.Unlock()
	if len(storageAuth) < 2 {
		t.Fatalf("storage saw %d requests, want the layers (and config) from it", len(storageAuth))
	}
	for _, h := range storageAuth {
		if h != "" {
			t.Errorf("storage received Authorization %q", h)
		}
	}
}

// anonymousKeychain has no credentials for anyone.
type anonymousKeychain struct{}

func (anonymousKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.Anonymous, nil
}

// TestPullBasicAuth: a registry that asks for Basic credentials directly
// (no token server) gets them from WithBasicAuth or the docker config.
func TestPullBasicAuth(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		config  bool // put alice:secret in $DOCKER_CONFIG
		wantErr error
	}{
		{name: "creds option", opts: []Option{WithBasicAuth("alice", "secret")}},
		{name: "docker config", config: true},
		{name: "wrong password", opts: []Option{WithBasicAuth("alice", "nope")}, wantErr: oci.ErrUnauthorized},
		{name: "anonymous", wantErr: oci.ErrUnauthorized},
	}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	open := httptest.NewServer(h)
	t.Cleanup(open.Close)
	guarded := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`, http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(guarded.Close)
	ohost, ghost := strings.TrimPrefix(open.URL, "http://"), strings.TrimPrefix(guarded.URL, "http://")
	push(t, ohost+"/app:v1", image(t, true, randomLayer(t, 2<<10)))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.config {
				dockerConfig(t, ghost, "alice", "secret")
			} else {
				dockerConfig(t, "", "", "")
			}
			st, _ := store.Open(t.TempDir())
			_, err := Image(ctxT(t), st, ghost+"/app:v1", append(tc.opts, fastRetry)...)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("pull: %v", err)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				assertNothingStored(t, st)
			}
		})
	}
}
