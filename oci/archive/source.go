package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/lamina-dev/lamina/oci/layer"
)

// source is where an archive's files are read from: a directory or an
// indexed tar file. Names are slash-separated and relative ("index.json",
// "blobs/sha256/<hex>").
type source interface {
	// open returns the file name and its size; a missing file is an error
	// wrapping fs.ErrNotExist.
	open(name string) (io.ReadCloser, int64, error)
	has(name string) bool
	Close() error
}

// dirSource reads an unpacked layout through an os.Root, so that a symlink
// in it can never make lamina read a file outside the directory.
type dirSource struct{ root *os.Root }

func (d *dirSource) open(name string) (io.ReadCloser, int64, error) {
	f, err := d.root.Open(name)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("open %s: not a regular file: %w", name, ErrNotArchive)
	}
	return f, fi.Size(), nil
}

func (d *dirSource) has(name string) bool {
	fi, err := d.root.Stat(name)
	return err == nil && fi.Mode().IsRegular()
}

func (d *dirSource) Close() error { return d.root.Close() }

// tarSource reads the regular files of a tar file in place: one pass over
// the headers records where each file's content starts.
type tarSource struct {
	f     *os.File
	files map[string]tarFile
	temp  bool // f is a spool file to remove on Close
}

type tarFile struct{ off, size int64 }

// indexTar reads every header of the tar file f. A later entry with the
// same name replaces an earlier one, as when extracting. A hard link, or a
// relative symlink to a file inside the archive (docker before 25 writes a
// layer shared with an earlier image as "<id2>/layer.tar ->
// ../<id1>/layer.tar"), is that file under another name; a symlink that is
// absolute, escapes the archive or points at nothing is no file. A truncated or
// corrupt tar is an error wrapping ErrNotArchive.
func indexTar(f *os.File) (map[string]tarFile, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("index archive: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("index archive: %w", err)
	}
	files := map[string]tarFile{}
	// symlink name → cleaned target, resolved at the end
	links := map[string]string{}
	tr := tar.NewReader(f) // unbuffered: after Next, f is at the entry's content
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("index archive: %w: truncated", ErrNotArchive)
		}
		if err != nil {
			return nil, fmt.Errorf("index archive: %w: %v", ErrNotArchive, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		switch h.Typeflag {
		case tar.TypeReg:
			delete(links, name)
		case tar.TypeDir, tar.TypeXGlobalHeader:
			continue
		case tar.TypeLink: // the content of an earlier file under another name
			delete(links, name)
			if t, ok := files[path.Clean(strings.TrimPrefix(h.Linkname, "./"))]; ok {
				files[name] = t
			} else {
				delete(files, name)
			}
			continue
		case tar.TypeSymlink: // docker < 25: <id2>/layer.tar -> ../<id1>/layer.tar
			delete(files, name)
			if t, ok := symlinkTarget(name, h.Linkname); ok {
				links[name] = t
			} else {
				delete(links, name)
			}
			continue
		default:
			delete(files, name) // another entry type hides an earlier file
			delete(links, name)
			continue
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("index archive: %w", err)
		}
		if h.Size < 0 || off+h.Size > fi.Size() {
			return nil, fmt.Errorf("index archive: %s: %w: truncated", h.Name, ErrNotArchive)
		}
		files[name] = tarFile{off: off, size: h.Size}
	}
	resolveSymlinks(files, links)
	if len(files) == 0 {
		return nil, fmt.Errorf("index archive: %w: no files", ErrNotArchive)
	}
	return files, nil
}

// maxSymlinkHops bounds a chain of symlinks inside an archive.
const maxSymlinkHops = 8

// symlinkTarget returns the archive name a symlink entry name -> target
// points at: target must be relative and stay inside the archive once
// joined to name's directory and cleaned.
func symlinkTarget(name, target string) (string, bool) {
	if target == "" || path.IsAbs(target) {
		return "", false
	}
	t := path.Join(path.Dir(name), target)
	if t == "." || t == ".." || strings.HasPrefix(t, "../") {
		return "", false
	}
	return t, true
}

// resolveSymlinks gives each symlink of links the content of the file it
// points at, following at most maxSymlinkHops links; a symlink whose target
// is not a file of the archive stays absent.
func resolveSymlinks(files map[string]tarFile, links map[string]string) {
	for name, t := range links {
		for hop := 0; hop < maxSymlinkHops; hop++ {
			if tf, ok := files[t]; ok {
				files[name] = tf
				break
			}
			next, ok := links[t]
			if !ok {
				break
			}
			t = next
		}
	}
}

func (t *tarSource) open(name string) (io.ReadCloser, int64, error) {
	e, ok := t.files[name]
	if !ok {
		return nil, 0, fmt.Errorf("open %s: %w", name, fs.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, e.off, e.size)), e.size, nil
}

func (t *tarSource) has(name string) bool { _, ok := t.files[name]; return ok }

func (t *tarSource) Close() error {
	err := t.f.Close()
	if t.temp {
		os.Remove(t.f.Name())
	}
	return err
}

// openSource opens path ("-" for in) as a source. The format is found from
// the content: a directory is an unpacked layout; a file is a tar, possibly
// gzip- or zstd-compressed; standard input and compressed files are first
// copied (decompressed) into a spool file in tmpDir.
func openSource(path string, in io.Reader, tmpDir string) (source, error) {
	if path != "-" {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("open archive: %w", err)
		}
		if fi.IsDir() {
			r, err := os.OpenRoot(path)
			if err != nil {
				return nil, fmt.Errorf("open archive: %w", err)
			}
			return &dirSource{root: r}, nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open archive: %w", err)
		}
		comp, err := sniff(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if comp == layer.Uncompressed {
			files, err := indexTar(f)
			if err != nil {
				f.Close()
				return nil, err
			}
			return &tarSource{f: f, files: files}, nil
		}
		defer f.Close()
		in = f
	}
	return spool(in, tmpDir)
}

// spool copies r, decompressed if it is compressed, to a temp file and
// indexes it.
func spool(r io.Reader, tmpDir string) (source, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		if err == io.EOF {
			return nil, fmt.Errorf("read archive: %w: empty input", ErrNotArchive)
		}
		return nil, fmt.Errorf("read archive: %w", err)
	}
	head = head[:n]
	comp, err := sniffBytes(head)
	if err != nil {
		return nil, err
	}
	dr, err := layer.Decompress(io.MultiReader(bytes.NewReader(head), r), comp)
	if err != nil {
		return nil, fmt.Errorf("read archive: %w: %v", ErrNotArchive, err)
	}
	defer dr.Close()
	f, err := os.CreateTemp(tmpDir, "load-")
	if err != nil {
		return nil, fmt.Errorf("read archive: %w", err)
	}
	fail := func(err error) (source, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if _, err := io.Copy(f, dr); err != nil {
		if comp != layer.Uncompressed { // a corrupt or truncated compressed stream
			return fail(fmt.Errorf("decompress archive: %w: %v", ErrNotArchive, err))
		}
		return fail(fmt.Errorf("read archive: %w", err))
	}
	files, err := indexTar(f)
	if err != nil {
		return fail(err)
	}
	return &tarSource{f: f, files: files, temp: true}, nil
}

// sniff reads the start of f to tell a tar from a compressed stream, and
// rewinds f.
func sniff(f *os.File) (layer.Compression, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return 0, fmt.Errorf("read archive: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("read archive: %w", err)
	}
	return sniffBytes(head[:n])
}

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

func sniffBytes(head []byte) (layer.Compression, error) {
	switch {
	case bytes.HasPrefix(head, gzipMagic):
		return layer.Gzip, nil
	case bytes.HasPrefix(head, zstdMagic):
		return layer.Zstd, nil
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		return layer.Uncompressed, nil
	}
	return 0, fmt.Errorf("read archive: %w: neither a directory, a tar nor a compressed tar", ErrNotArchive)
}
