package oci

import (
	"errors"
	"fmt"
)

// Sentinel errors that callers match with errors.Is.
var (
	// ErrNotFound: the ref is not in the store, or the registry does not
	// know the repository or tag.
	ErrNotFound = errors.New("image not found")
	// ErrUnsupportedMediaType: a manifest or layer has a media type lamina
	// cannot handle (schema 1, foreign layers, unknown compression).
	ErrUnsupportedMediaType = errors.New("unsupported media type")
	// ErrMalformedManifest: a manifest or config does not parse or is
	// inconsistent (layer count differs from diff_ids, bad digest syntax).
	ErrMalformedManifest = errors.New("malformed manifest")
	// ErrMalformedLayer: a layer tar breaks the rules in the package doc
	// ("Unpack"), such as a whiteout and a file for the same path.
	ErrMalformedLayer = errors.New("malformed layer")
	// ErrUnsafePath: a tar entry name or link target would leave the layer
	// directory, or passes through a symlink.
	ErrUnsafePath = errors.New("unsafe path in layer")
	// ErrUnauthorized: the registry refused the credentials (or their absence).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnreachable: no connection to the registry could be made, or the
	// connection kept failing (reset, truncated body) through every retry.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrUnavailable: the registry kept answering 429 or 5xx through
	// every retry.
	ErrUnavailable = errors.New("registry unavailable")
	// ErrPlainHTTP: plain HTTP to a registry that is not on a loopback
	// address, without the caller allowing it (insecure).
	ErrPlainHTTP = errors.New("plain HTTP refused")
	// ErrTooLarge: a blob or decompressed layer is bigger than allowed.
	ErrTooLarge = errors.New("content too large")
)

// DigestError reports content whose digest is not the expected one.
// It matches ErrDigestMismatch with errors.Is.
type DigestError struct {
	What string // "blob", "diff_id" or "manifest"
	Want string
	Got  string
}

// ErrDigestMismatch is matched by every *DigestError.
var ErrDigestMismatch = errors.New("digest mismatch")

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s digest mismatch: want %s, got %s", e.What, e.Want, e.Got)
}

// Is makes errors.Is(err, ErrDigestMismatch) true.
func (e *DigestError) Is(target error) bool { return target == ErrDigestMismatch }

// RetryError reports a registry request that still failed after its last
// attempt. It matches ErrUnavailable with errors.Is when the registry
// answered with a retryable status, ErrUnreachable when the network failed.
type RetryError struct {
	Attempts   int
	StatusCode int    // the last HTTP status; 0 for a network failure
	Status     string // e.g. "503 Service Unavailable"
	Err        error  // the last network failure, when StatusCode is 0
}

func (e *RetryError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s after %d attempts", e.Status, e.Attempts)
	}
	return fmt.Sprintf("%v: %v after %d attempts", ErrUnreachable, e.Err, e.Attempts)
}

// Unwrap returns the network failure, if any.
func (e *RetryError) Unwrap() error { return e.Err }

// Is makes errors.Is match ErrUnavailable or ErrUnreachable (see above).
func (e *RetryError) Is(target error) bool {
	if e.StatusCode != 0 {
		return target == ErrUnavailable
	}
	return target == ErrUnreachable
}

// Bounds on what a manifest may declare, so that a hostile registry cannot
// make lamina hold a huge config in memory (it is read whole) or start an
// absurd number of layer downloads. Real configs are kilobytes; docker
// refuses images of more than 127 layers.
const (
	MaxConfigSize = 16 << 20
	MaxLayers     = 1000
)

// MaxUncompressed is the largest uncompressed size accepted for a layer whose
// compressed blob is compressed bytes long: 1100 times that (above the
// deflate maximum ratio of about 1032) plus 64 MiB, so that no real gzip layer
// is refused while a zstd bomb is stopped early.
func MaxUncompressed(compressed int64) int64 {
	const ratio, slack = 1100, 64 << 20
	if compressed > (1<<62)/ratio {
		return 1 << 62
	}
	return compressed*ratio + slack
}
