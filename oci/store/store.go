// Package store is lamina's content-addressed image store on disk: an OCI
// image layout plus unpacked layer directories and container records. The
// layout, crash-safety rules and locks are described in the doc of package
// github.com/lamina-dev/lamina/oci; this package implements them.
package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/moby/sys/userns"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// Store is one store root. Its methods are safe for concurrent use by
// goroutines and processes; see the package oci doc ("Locking").
type Store struct {
	root string
}

// DefaultRoot is /var/lib/lamina for root and $XDG_DATA_HOME/lamina (or
// ~/.local/share/lamina) otherwise, also for root of a user namespace (as
// under "unshare -Urm"), which cannot write the host's /var/lib.
func DefaultRoot() string {
	if os.Geteuid() == 0 && !userns.RunningInUserNS() {
		return "/var/lib/lamina"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "lamina")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), fmt.Sprintf("lamina-%d", os.Geteuid()))
	}
	return filepath.Join(home, ".local", "share", "lamina")
}

const layoutFile = `{"imageLayoutVersion":"1.0.0"}`

// Open opens the store at root, creating its directories, the oci-layout
// file and an empty index.json if they are missing.
func Open(root string) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	for _, d := range []string{"blobs/sha256", "layers", "containers", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	s := &Store{root: root}
	if _, err := os.Stat(filepath.Join(root, "oci-layout")); errors.Is(err, fs.ErrNotExist) {
		if err := s.writeFile("oci-layout", []byte(layoutFile)); err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
	}
	if err := s.ensureIndex(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return s, nil
}

// Root returns the store's root directory.
func (s *Store) Root() string { return s.root }

// TempDir is the store's staging directory; anything made in it is on the
// store's filesystem and may be renamed into place.
func (s *Store) TempDir() string { return filepath.Join(s.root, "tmp") }

// MkdirTemp makes a new empty directory tmp/<kind>-<random>.
func (s *Store) MkdirTemp(kind string) (string, error) {
	return os.MkdirTemp(s.TempDir(), kind+"-")
}

// BlobPath returns where the blob with digest d is (or would be) stored.
func (s *Store) BlobPath(d digest.Digest) string {
	return filepath.Join(s.root, "blobs", d.Algorithm().String(), d.Encoded())
}

// HasBlob reports whether the blob d is stored.
func (s *Store) HasBlob(d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := os.Lstat(s.BlobPath(d))
	return err == nil
}

// ReadBlob reads the blob d and checks its digest.
func (s *Store) ReadBlob(d digest.Digest) ([]byte, error) {
	if err := checkDigest(d); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.BlobPath(d))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	if got := digest.FromBytes(b); got != d {
		return nil, fmt.Errorf("read blob %s: stored content has digest %s", d, got)
	}
	return b, nil
}

// PutBlob stores b, which must have digest d.
func (s *Store) PutBlob(d digest.Digest, b []byte) error {
	w, err := s.NewBlobWriter(d, int64(len(b)))
	if err != nil {
		return err
	}
	defer w.Close()
	if _, err := w.Write(b); err != nil {
		return err
	}
	return w.Commit()
}

// LayerPath returns the directory of the layer with the given diff_id.
func (s *Store) LayerPath(diffID digest.Digest) string {
	return filepath.Join(s.root, "layers", diffID.Encoded())
}

// HasLayer reports whether the layer diffID is unpacked.
func (s *Store) HasLayer(diffID digest.Digest) bool {
	if diffID.Validate() != nil {
		return false
	}
	fi, err := os.Lstat(s.LayerPath(diffID))
	return err == nil && fi.IsDir()
}

// CommitLayer publishes dir, a fully unpacked and verified layer directory
// made with MkdirTemp, as the layer diffID. The filesystem is synced first.
// If the layer exists already (a concurrent pull won), dir is removed and
// existed is true.
func (s *Store) CommitLayer(dir string, diffID digest.Digest) (existed bool, err error) {
	if err := checkDigest(diffID); err != nil {
		return false, err
	}
	if err := syncfs(dir); err != nil {
		return false, fmt.Errorf("commit layer %s: %w", diffID, err)
	}
	err = unix.Renameat2(unix.AT_FDCWD, dir, unix.AT_FDCWD, s.LayerPath(diffID), unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
		return true, os.RemoveAll(dir)
	}
	if err != nil {
		return false, fmt.Errorf("commit layer %s: %w", diffID, err)
	}
	return false, syncDir(filepath.Dir(s.LayerPath(diffID)))
}

// removeDir renames dir into tmp/ and then removes it, so that a partly
// removed directory is never visible under its name.
func (s *Store) removeDir(dir string) error {
	trash := filepath.Join(s.TempDir(), "trash-"+randomHex())
	if err := os.Rename(dir, trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return os.RemoveAll(trash)
}

// writeFile writes name (relative to the root) atomically: a temp file in
// tmp/, fsync, rename, fsync of the directory.
func (s *Store) writeFile(name string, b []byte) error {
	f, err := os.CreateTemp(s.TempDir(), "file-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	dst := filepath.Join(s.root, name)
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("check digest %q: %w", d, err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("check digest %q: only sha256 is supported", d)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Syncfs(fd)
}

func randomHex() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
