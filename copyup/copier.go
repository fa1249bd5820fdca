package copyup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// workName is the name of copyup's private directory inside the workdir.
const workName = "work"

// Copier copies lower entries into the upper layer through a work directory.
// It is safe for concurrent use: its settings are immutable after New, and
// what it learns (refused copy methods, a work directory refusing
// O_TMPFILE) is kept in concurrent maps and an atomic flag.
type Copier struct {
	work       string      // <workdir>/work; immutable
	tempPrefix string      // "<work>/#lamina-<pid>-", the temp names' start; immutable
	opts       options     // immutable
	refused    *refusals   // copy methods refused per source filesystem; internally synchronised
	noTmpfile  atomic.Bool // regular files are staged under a name: no /proc/self/fd, or O_TMPFILE refused
}

// New prepares a copier that stages files in <workdir>/work, which must
// exist and be on the same filesystem as the destinations. It does NOT
// clean; call [Clean] first at mount time.
func New(workdir string, opts ...Option) (*Copier, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	work := filepath.Join(workdir, workName)
	fi, err := os.Lstat(work)
	if err != nil {
		return nil, fmt.Errorf("open work dir: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("open work dir %s: %w", work, unix.ENOTDIR)
	}
	tempPrefix := filepath.Join(work, "#lamina-"+strconv.Itoa(os.Getpid())+"-")
	c := &Copier{work: work, tempPrefix: tempPrefix, opts: o, refused: new(refusals)}
	// An O_TMPFILE is named through /proc/self/fd (see linkTmpfile).
	c.noTmpfile.Store(unix.Access(procSelfFD, unix.X_OK) != nil)
	return c, nil
}

// Copy copies the entry at src (absolute path, not followed if symlink) to
// dst (absolute path whose parent must exist and whose name must not exist)
// atomically. st is the lstat of src (the caller already has it; if nil,
// Copy lstats). extra xattrs are set on the copy before it is published.
//
// A regular file gets st.Size bytes: the source's first st.Size bytes,
// so a caller about to truncate passes a smaller size and copies only what
// survives. A directory is copied as an empty directory with the source's
// metadata. If dst exists the error matches [ErrExists]. On any error nothing is left
// at dst or in the work directory.
func (c *Copier) Copy(ctx context.Context, src, dst string, st *unix.Stat_t, extra map[string][]byte) error {
	if err := c.copy(ctx, src, dst, st, extra); err != nil {
		return fmt.Errorf("copy up %s: %w", src, err)
	}
	return nil
}

func (c *Copier) copy(ctx context.Context, src, dst string, st *unix.Stat_t, extra map[string][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if st == nil {
		st = new(unix.Stat_t)
		if err := unix.Lstat(src, st); err != nil {
			return &os.PathError{Op: "lstat", Path: src, Err: err}
		}
	}
	// Cheap early check so a large file is not copied only to fail at the
	// end; RENAME_NOREPLACE is what actually guarantees no replacement,
	// and for anything smaller than a chunk it is all the check needed.
	if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size >= chunkSize {
		var dstSt unix.Stat_t
		if err := unix.Lstat(dst, &dstSt); err == nil {
			return existsError(dst, unix.EEXIST)
		} else if err != unix.ENOENT {
			return &os.PathError{Op: "lstat", Path: dst, Err: err}
		}
	}

	err := c.copyOnce(ctx, src, dst, st, extra, true)
	if errors.Is(err, errLinkTmpfile) {
		// Something refused to name the unnamed copy (a hard link
		// protection, an odd /proc): copy again under a name.
		err = c.copyOnce(ctx, src, dst, st, extra, false)
	}
	return err
}

// copyOnce stages, completes and publishes one copy; anon allows an
// O_TMPFILE for a regular file.
func (c *Copier) copyOnce(ctx context.Context, src, dst string, st *unix.Stat_t, extra map[string][]byte, anon bool) (err error) {
	s, err := c.stage(ctx, src, st, anon)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.discard()
		}
	}()
	if err := c.applyMeta(s, src, st, extra); err != nil {
		return err
	}
	if c.opts.sync {
		if err := s.sync(); err != nil {
			return err
		}
	}
	if !s.anon { // an unnamed file is linked through its fd
		if err := s.close(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := publish(s, dst, st.Mode&07777); err != nil {
		return err
	}
	return s.close()
}

func existsError(dst string, cause error) error {
	return fmt.Errorf("create %s: %w: %w", dst, ErrExists, cause)
}
