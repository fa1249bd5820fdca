package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Format is an output format of Save.
type Format string

const (
	// FormatOCI is an OCI image layout directory.
	FormatOCI Format = "oci"
	// FormatOCIArchive is an OCI image layout as a tar.
	FormatOCIArchive Format = "oci-archive"
	// FormatDockerArchive is a docker save tarball.
	FormatDockerArchive Format = "docker-archive"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatOCI, FormatOCIArchive, FormatDockerArchive:
		return f, nil
	}
	return "", fmt.Errorf("parse format %q: want oci, oci-archive or docker-archive", s)
}

// saved is one image to save.
type saved struct {
	img      store.Image
	manifest *ispec.Manifest
	config   *ispec.Image
}

// Save writes the images refs (as Resolve finds them) from st to path in
// format. A directory or file is written under a temporary name next to
// path and renamed into place when complete; path must not exist. An
// archive format with path "-" is streamed to WithStdout. Every blob copied
// is checked against its digest on the way.
//
// In an OCI layout each image is an index.json entry whose
// org.opencontainers.image.ref.name is the store's full ref, so that
// "skopeo inspect oci:DIR:REF" and Load find it. A docker archive has the
// docker 1.10+ form: manifest.json (RepoTags, Config and Layers naming files
// "blobs/sha256/<hex>"), the config and one uncompressed tar per layer,
// named by its diff_id.
func Save(ctx context.Context, st *store.Store, refs []string, format Format, path string, opts ...Option) error {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	if len(refs) == 0 {
		return fmt.Errorf("save: no image given")
	}
	if format == FormatOCI && path == "-" {
		return fmt.Errorf("save: format oci writes a directory; use --format oci-archive to write to standard output")
	}
	unlock, err := st.LockShared()
	if err != nil {
		return err
	}
	defer unlock()
	imgs, err := resolveAll(st, refs)
	if err != nil {
		return fmt.Errorf("save: %w", err)
	}
	write := func(s sink) error {
		if format == FormatDockerArchive {
			return writeDocker(ctx, st, imgs, s)
		}
		return writeLayout(ctx, st, imgs, s)
	}
	if err := output(path, format, o.stdout, write); err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	return nil
}

func resolveAll(st *store.Store, refs []string) ([]saved, error) {
	var out []saved
	seen := map[string]bool{}
	for _, r := range refs {
		im, err := st.Resolve(r)
		if err != nil {
			return nil, err
		}
		if seen[im.Ref] {
			continue
		}
		seen[im.Ref] = true
		m, err := st.Manifest(im.Descriptor.Digest)
		if err != nil {
			return nil, err
		}
		c, err := st.Config(m.Config.Digest)
		if err != nil {
			return nil, err
		}
		if len(c.RootFS.DiffIDs) != len(m.Layers) {
			return nil, fmt.Errorf("image %s: %d layers but %d diff_ids: %w", im.Ref, len(m.Layers), len(c.RootFS.DiffIDs), oci.ErrMalformedManifest)
		}
		out = append(out, saved{img: im, manifest: m, config: c})
	}
	return out, nil
}

// output runs write against the sink for path and format, and publishes
// the result atomically.
func output(path string, format Format, stdout io.Writer, write func(sink) error) error {
	if path == "-" {
		ts := newTarSink(stdout)
		if err := write(ts); err != nil {
			return err
		}
		return ts.close()
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("create output: %s exists", path)
	}
	dir, base := filepath.Split(filepath.Clean(path))
	if dir == "" {
		dir = "."
	}
	if format == FormatOCI {
		tmp, err := os.MkdirTemp(dir, "."+base+"-")
		if err != nil {
			return fmt.Errorf("create output: %w", err)
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			os.RemoveAll(tmp)
			return fmt.Errorf("create output: %w", err)
		}
		if err := write(dirSink{dir: tmp}); err != nil {
			os.RemoveAll(tmp)
			return err
		}
		if err := publish(tmp, path); err != nil {
			os.RemoveAll(tmp)
			return err
		}
		return nil
	}
	f, err := os.CreateTemp(dir, "."+base+"-")
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	ts := newTarSink(f)
	if err := write(ts); err != nil {
		return fail(err)
	}
	if err := ts.close(); err != nil {
		return fail(fmt.Errorf("write archive: %w", err))
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(fmt.Errorf("write archive: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("write archive: %w", err))
	}
	if err := f.Close(); err != nil {
		return fail(fmt.Errorf("write archive: %w", err))
	}
	if err := publish(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// publish renames the complete output tmp to path, unless something
// appeared at path since output checked: RENAME_NOREPLACE never replaces
// it.
func publish(tmp, path string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create output: %s exists", path)
	}
	if err != nil {
		return fmt.Errorf("create output: rename %s to %s: %w", tmp, path, err)
	}
	return nil
}

// writeLayout writes imgs as an OCI image layout: oci-layout, every blob
// once, then index.json.
func writeLayout(ctx context.Context, st *store.Store, imgs []saved, s sink) error {
	if err := putBytes(s, "oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	blobs := map[digest.Digest]int64{}
	idx := ispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ispec.MediaTypeImageIndex}
	for _, im := range imgs {
		blobs[im.img.Descriptor.Digest] = im.img.Descriptor.Size
		blobs[im.manifest.Config.Digest] = im.manifest.Config.Size
		for _, l := range im.manifest.Layers {
			blobs[l.Digest] = l.Size
		}
		d := im.img.Descriptor
		d.Annotations = map[string]string{ispec.AnnotationRefName: im.img.Ref}
		idx.Manifests = append(idx.Manifests, d)
	}
	ds := make([]digest.Digest, 0, len(blobs))
	for d := range blobs {
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	for _, d := range ds {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := copyBlob(st, s, d, blobs[d]); err != nil {
			return err
		}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("write index.json: %w", err)
	}
	return putBytes(s, "index.json", b)
}

func putBytes(s sink, name string, b []byte) error {
	return s.put(name, int64(len(b)), bytes.NewReader(b))
}

// copyBlob copies the stored blob d of size bytes to blobs/sha256/<hex> in
// s, checking its size and digest.
func copyBlob(st *store.Store, s sink, d digest.Digest, size int64) error {
	f, err := os.Open(st.BlobPath(d))
	if err != nil {
		return fmt.Errorf("read blob %s: %w", d, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read blob %s: %w", d, err)
	}
	if fi.Size() != size {
		return fmt.Errorf("read blob %s: stored %d bytes, descriptor says %d", d, fi.Size(), size)
	}
	v := d.Verifier()
	if err := s.put(blobName(d), size, io.TeeReader(f, v)); err != nil {
		return err
	}
	if !v.Verified() {
		return fmt.Errorf("read blob %s: stored content does not match its digest: %w", d, oci.ErrDigestMismatch)
	}
	return nil
}

// familiar writes a store ref the way docker prints it in RepoTags
// ("index.docker.io/library/busybox:latest" → "docker.io/library/busybox:latest").
func familiar(ref string) string {
	if rest, ok := strings.CutPrefix(ref, "index.docker.io/"); ok {
		return "docker.io/" + rest
	}
	return ref
}
