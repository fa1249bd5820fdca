package pull

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// stallGuard is an http.RoundTripper that gives up on a request when the
// server goes quiet: no response headers, or no body bytes, for d. The
// request is then canceled and the error is a *stallError, a timeout that
// the retrier (headers) and blobReader (body) retry. Without it a registry
// that stops sending would hang a pull forever: go-containerregistry's
// transport has no read timeout, and a whole-request timeout cannot fit
// both a manifest and a multi-gigabyte layer.
type stallGuard struct {
	next http.RoundTripper
	d    time.Duration
}

// stallError reports a server that sent nothing for a while.
type stallError struct{ d time.Duration }

func (e *stallError) Error() string   { return fmt.Sprintf("registry sent nothing for %v", e.d) }
func (e *stallError) Timeout() bool   { return true } // net.Error: retryable
func (e *stallError) Temporary() bool { return true }

func (g *stallGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	var fired atomic.Bool
	timer := time.AfterFunc(g.d, func() { fired.Store(true); cancel() })
	resp, err := g.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		timer.Stop()
		cancel()
		if fired.Load() {
			return nil, &stallError{d: g.d}
		}
		return nil, err
	}
	timer.Reset(g.d)
	resp.Body = &stallBody{ReadCloser: resp.Body, timer: timer, d: g.d, fired: &fired, cancel: cancel}
	return resp, nil
}

// stallBody re-arms the stall timer on every read that brings bytes.
type stallBody struct {
	io.ReadCloser
	timer  *time.Timer
	d      time.Duration
	fired  *atomic.Bool
	cancel context.CancelFunc
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 && !b.fired.Load() {
		b.timer.Reset(b.d)
	}
	if err != nil && err != io.EOF && b.fired.Load() {
		err = &stallError{d: b.d}
	}
	return n, err
}

func (b *stallBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
