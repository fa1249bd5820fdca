// Package pull fetches an image from a registry into a store: manifest
// (choosing a platform from an index), config, and every layer, verified and
// unpacked. The store side (what is written where, crash safety) is in the
// doc of package github.com/lamina-dev/lamina/oci ("Pull", "Store").
//
// # Transport
//
// One http.RoundTripper serves a whole pull. From the top:
//
//   - go-containerregistry's auth transport (transport.NewWithContext): it
//     pings /v2/, answers the registry's challenge (anonymous, Basic, or
//     Bearer through the token server named by WWW-Authenticate), and when a
//     token expires mid-pull (a 401 with a new challenge) fetches a new one
//     and repeats the request. It sends the registry's credentials only to
//     the registry's host, never to a host a blob redirects to.
//   - retrier: retries a request that fails with a network error (refused,
//     reset, timeout, cut short) or with 429 or 5xx (but 501 and 505),
//     waiting with exponential backoff and jitter (Backoff, WithRetry; a
//     Retry-After in seconds is honoured up to Backoff.Max). Waits end early
//     when the context does. Other 4xx answers are final. After the last attempt the
//     error is an *oci.RetryError ("503 Service Unavailable after 5
//     attempts"), which matches oci.ErrUnavailable (status) or
//     oci.ErrUnreachable (network).
//   - stallGuard: abandons a request when the server sends nothing (no
//     headers, or no body bytes) for WithStallTimeout (default 30 s); the
//     error is a timeout, so it is retried like any network failure, and a
//     stalled blob download resumes.
//   - guard: refuses plain HTTP (oci.ErrPlainHTTP) unless the host is a
//     loopback one (localhost, 127.0.0.0/8, ::1) or the caller allowed it
//     (WithInsecure). go-containerregistry would otherwise use HTTP for
//     RFC 1918 addresses and *.local names too.
//   - the caller's transport (WithTransport; default remote.DefaultTransport).
//
// Credentials: WithBasicAuth, or else the keychain (WithKeychain; default
// authn.DefaultKeychain, which reads $DOCKER_CONFIG/config.json or
// ~/.docker/config.json and runs the credential helpers it names).
// A refused login is oci.ErrUnauthorized.
//
// # Blobs
//
// Layer blobs are fetched by blobReader, not go-containerregistry: a GET of
// /v2/NAME/blobs/DIGEST whose body is streamed at once into the blob file,
// the decompressor and the unpacker (no temporary tarball). When the body
// breaks off, blobReader asks again with "Range: bytes=N-" and continues
// the same stream; a registry that ignores Range (200) is read past the N
// bytes already delivered. Each break-off counts one attempt of the same
// Backoff; a break-off after new bytes arrived starts the count again, so
// only break-offs in a row without progress exhaust it. Redirects (302/307 to object storage) are followed. Nothing is
// visible in the store until the blob digest and the diff_id both match:
// the blob and the layer directory are written under tmp/ and renamed in.
//
// # Progress
//
// The library only emits oci.Progress events through WithProgress, from one
// goroutine per layer: "waiting" or "already exists" for every layer first,
// in manifest order; then per fetched layer "downloading" (at most one event
// per MiB), "verifying", "verified" and "pull complete". Download and
// extraction are one stream, so there is no separate extracting stage.
// Rendering is the caller's (cmd/lamina draws docker-like lines).
package pull
