package copyup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Clean removes every entry under <workdir>/work, the leftovers of copies
// interrupted by a crash, and creates <workdir>/work with mode 0700 if it is
// missing (workdir itself must exist). It is meant for mount time and must
// not run while a [Copier] on the same workdir is copying.
//
// Clean never touches anything outside <workdir>/work: if work is a symlink
// or not a directory it fails, and removal goes through an [os.Root] opened
// on that directory, so no symlink inside can lead out of it.
func Clean(workdir string) error {
	work := filepath.Join(workdir, workName)
	fi, err := os.Lstat(work)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(work, 0o700); err != nil {
			return fmt.Errorf("create work dir: %w", err)
		}
		if err := os.Chmod(work, 0o700); err != nil { // whatever the umask
			return fmt.Errorf("create work dir: %w", err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("clean work dir: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("clean work dir %s: %w", work, unix.ENOTDIR)
	}

	root, err := os.OpenRoot(work)
	if err != nil {
		return fmt.Errorf("clean work dir: %w", err)
	}
	defer root.Close()
	// OpenRoot follows a symlink: make sure it opened what Lstat saw.
	if rfi, err := root.Stat("."); err != nil || !os.SameFile(fi, rfi) {
		return fmt.Errorf("clean work dir %s: changed while opening", work)
	}
	dir, err := root.Open(".")
	if err != nil {
		return fmt.Errorf("clean work dir: %w", err)
	}
	names, err := dir.Readdirnames(-1)
	dir.Close()
	if err != nil {
		return fmt.Errorf("clean work dir: %w", err)
	}
	var errs []error
	for _, name := range names {
		if err := root.RemoveAll(name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean work dir %s: %w", work, err)
	}
	return nil
}
