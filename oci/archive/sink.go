package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"
)

// sink is where Save writes an archive's files: a directory or a tar stream.
type sink interface {
	// put writes the file name (slash-separated, relative) of size bytes
	// read from r.
	put(name string, size int64, r io.Reader) error
}

// dirSink writes files under dir, mode 0644, parents 0755.
type dirSink struct{ dir string }

func (d dirSink) put(name string, size int64, r io.Reader) error {
	p := filepath.Join(d.dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	n, err := io.Copy(f, r)
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes, expected %d", n, size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// tarSink writes files into a tar stream, each preceded by entries for its
// parent directories the first time they are needed. Times are the Unix
// epoch and owners root, so the same content makes the same archive.
type tarSink struct {
	tw   *tar.Writer
	dirs map[string]bool
}

func newTarSink(w io.Writer) *tarSink { return &tarSink{tw: tar.NewWriter(w), dirs: map[string]bool{}} }

func (t *tarSink) put(name string, size int64, r io.Reader) error {
	if err := t.mkdirs(path.Dir(name)); err != nil {
		return err
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := io.CopyN(t.tw, r, size); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

func (t *tarSink) mkdirs(dir string) error {
	if dir == "." || t.dirs[dir] {
		return nil
	}
	if err := t.mkdirs(path.Dir(dir)); err != nil {
		return err
	}
	t.dirs[dir] = true
	h := &tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
	if err := t.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write %s: %w", dir, err)
	}
	return nil
}

func (t *tarSink) close() error { return t.tw.Close() }
