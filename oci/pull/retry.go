package pull

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/lamina-dev/lamina/oci"
)

// Backoff says how often and how patiently a failed registry request is
// retried. Wait n (n ≥ 1) is Initial×Factorⁿ⁻¹, capped at Max, then moved by
// a random amount of up to ±Jitter of itself. A 429 or 503 with a
// Retry-After header waits that long instead (still capped at Max).
type Backoff struct {
	Attempts int           // tries in all, the first included; at least 1
	Initial  time.Duration // wait after the first failure
	Max      time.Duration // longest single wait
	Factor   float64       // growth of the wait per failure; at least 1
	Jitter   float64       // 0 to 1
}

// delay is the wait after failure n (1-based).
func (b Backoff) delay(n int, retryAfter time.Duration) time.Duration {
	d := float64(b.Initial)
	for i := 1; i < n && d < float64(b.Max); i++ {
		d *= max(b.Factor, 1)
	}
	d = min(d, float64(b.Max))
	if retryAfter > 0 {
		return min(retryAfter, b.Max)
	}
	if b.Jitter > 0 {
		d += d * b.Jitter * (2*rand.Float64() - 1)
	}
	return time.Duration(d)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryableStatus lists the answers worth asking again: the rate limit
// (429) and server-side failures (5xx), except the two that say the server
// never will (501 Not Implemented, 505 HTTP Version Not Supported). Every
// other 4xx is final.
func retryableStatus(code int) bool {
	switch {
	case code == http.StatusTooManyRequests:
		return true
	case code == http.StatusNotImplemented, code == http.StatusHTTPVersionNotSupported:
		return false
	}
	return code >= 500 && code <= 599
}

// retryableErr reports whether a transport or body-read error is a network
// failure worth retrying (refused, reset, timed out, cut short). TLS,
// DNS-name and policy errors (plain HTTP refused) are final.
func retryableErr(err error) bool {
	var re *oci.RetryError
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &re) {
		return false // a RetryError has had its retries
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryAfter reads a Retry-After header given in seconds.
func retryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || s < 0 {
		return 0
	}
	return time.Duration(min(s, 1<<20)) * time.Second // no overflow; capped at Max anyway
}

// retrier is an http.RoundTripper that retries requests failing with a
// retryable status or network error, with backoff. It sits below
// go-containerregistry's auth transport, so token requests are retried too,
// and a 401 goes up to be answered by re-authenticating. After the last
// attempt it returns an *oci.RetryError instead of the response.
type retrier struct {
	next    http.RoundTripper
	backoff Backoff
}

func (t *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for n := 1; ; n++ {
		if n > 1 && req.Body != nil {
			if req.GetBody == nil {
				return nil, errors.New("retry request: body cannot be replayed")
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
		resp, err := t.next.RoundTrip(req)
		switch {
		case err != nil && (!retryableErr(err) || ctx.Err() != nil):
			return nil, err
		case err == nil && !retryableStatus(resp.StatusCode):
			return resp, nil
		}
		if n >= t.backoff.Attempts {
			if err != nil {
				return nil, &oci.RetryError{Attempts: n, Err: err}
			}
			discard(resp)
			return nil, &oci.RetryError{Attempts: n, StatusCode: resp.StatusCode, Status: resp.Status}
		}
		wait := t.backoff.delay(n, retryAfter(resp))
		if resp != nil {
			discard(resp)
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// discard drains a little of a response body (so the connection can be
// reused) and closes it.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
