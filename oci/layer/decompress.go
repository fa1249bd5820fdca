package layer

import (
	"bufio"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip" // same API as compress/gzip, about 1.5× faster to inflate
	"github.com/klauspost/compress/zstd"
	"github.com/lamina-dev/lamina/oci"
)

// Compression of a layer blob.
type Compression int

const (
	Uncompressed Compression = iota
	Gzip
	Zstd
)

// CompressionOf maps a layer media type (OCI or Docker spelling) to its
// compression, or returns oci.ErrUnsupportedMediaType.
func CompressionOf(mediaType string) (Compression, error) {
	switch mediaType {
	case "application/vnd.oci.image.layer.v1.tar",
		"application/vnd.docker.image.rootfs.diff.tar":
		return Uncompressed, nil
	case "application/vnd.oci.image.layer.v1.tar+gzip",
		"application/vnd.docker.image.rootfs.diff.tar.gzip":
		return Gzip, nil
	case "application/vnd.oci.image.layer.v1.tar+zstd",
		"application/vnd.docker.image.rootfs.diff.tar.zstd":
		return Zstd, nil
	}
	return 0, fmt.Errorf("layer media type %q: %w", mediaType, oci.ErrUnsupportedMediaType)
}

// Decompress returns the uncompressed stream of r.
func Decompress(r io.Reader, c Compression) (io.ReadCloser, error) {
	switch c {
	case Gzip:
		z, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<16))
		if err != nil {
			return nil, fmt.Errorf("decompress layer: %w", err)
		}
		return z, nil
	case Zstd:
		z, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(1<<27), zstd.WithDecoderConcurrency(0))
		if err != nil {
			return nil, fmt.Errorf("decompress layer: %w", err)
		}
		return z.IOReadCloser(), nil
	}
	return io.NopCloser(r), nil
}

// Limit returns a reader of r that fails with oci.ErrTooLarge once more
// than n bytes are read: the bound on a decompressed layer (see
// oci.MaxUncompressed).
func Limit(r io.Reader, n int64) io.Reader { return &limitReader{r: r, n: n} }

type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, fmt.Errorf("decompressed layer: %w", oci.ErrTooLarge)
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	n, err := l.r.Read(b)
	l.n -= int64(n)
	return n, err
}
