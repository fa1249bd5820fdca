package copyup

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The crash and rootless tests re-exec this test binary as a child that
// runs one Copy, configured through these variables.
const (
	envChild   = "COPYUP_CHILD" // "1" makes TestMain run childCopy instead of tests
	envWorkdir = "COPYUP_WORKDIR"
	envSrc     = "COPYUP_SRC"
	envDst     = "COPYUP_DST"
	envStrict  = "COPYUP_STRICT_OWNER" // "1" for WithStrictOwner(true)
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "1" {
		os.Exit(childCopy())
	}
	os.Exit(m.Run())
}

// childCopy runs one Copy from the environment; exit 0 on success, 3 on a
// copy error (printed on stderr), 2 on a setup error.
func childCopy() int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := New(os.Getenv(envWorkdir), WithStrictOwner(os.Getenv(envStrict) == "1"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := c.Copy(ctx, os.Getenv(envSrc), os.Getenv(envDst), nil, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return 0
}

// testCtx returns a context that ends after d, or a little before the test
// binary's deadline, whichever is first.
func testCtx(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	if tt, ok := t.(*testing.T); ok {
		if dl, ok := tt.Deadline(); ok {
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-5*time.Second))
			t.Cleanup(cancel)
		}
	}
	return ctx
}

// requireRoot skips tests that create devices, chown, or set trusted.*
// xattrs.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates devices, chowns and sets trusted.* xattrs")
	}
}

// layout is a lower, an upper and a cleaned workdir on one filesystem.
type layout struct {
	workdir, lower, upper string
}

func newLayout(t testing.TB) layout {
	t.Helper()
	base := t.TempDir()
	l := layout{
		workdir: filepath.Join(base, "workdir"),
		lower:   filepath.Join(base, "lower"),
		upper:   filepath.Join(base, "upper"),
	}
	for _, d := range []string{l.workdir, l.lower, l.upper} {
		mustNoErr(t, os.Mkdir(d, 0o755))
	}
	mustNoErr(t, Clean(l.workdir))
	return l
}

func (l layout) copier(t testing.TB, opts ...Option) *Copier {
	t.Helper()
	c, err := New(l.workdir, opts...)
	mustNoErr(t, err)
	return c
}

func (l layout) work() string { return filepath.Join(l.workdir, workName) }

// workEntries lists what is left in the work directory.
func (l layout) workEntries(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(l.work())
	mustNoErr(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func (l layout) assertWorkEmpty(t testing.TB) {
	t.Helper()
	if left := l.workEntries(t); len(left) > 0 {
		t.Errorf("work dir not empty: %q", left)
	}
}

func mustNoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func lstat(t testing.TB, p string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	mustNoErr(t, unix.Lstat(p, &st))
	return st
}

// pattern returns n deterministic, incompressible-looking bytes.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// writeAt writes data at off in the file p, creating it.
func writeAt(t testing.TB, p string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	mustNoErr(t, err)
	defer f.Close()
	_, err = f.WriteAt(data, off)
	mustNoErr(t, err)
}

// assertSameContent compares two files chunk by chunk.
func assertSameContent(t testing.TB, want, got string) {
	t.Helper()
	if a, b := fileSum(t, want), fileSum(t, got); a != b {
		t.Errorf("content of %s differs from %s", got, want)
	}
}

func fileSum(t testing.TB, p string) [32]byte {
	t.Helper()
	f, err := os.Open(p)
	mustNoErr(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	mustNoErr(t, err)
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// xattrs returns all xattrs of p (not followed).
func xattrs(t testing.TB, p string) map[string]string {
	t.Helper()
	names, err := listXattrs(p)
	mustNoErr(t, err)
	m := map[string]string{}
	for _, n := range names {
		v, err := GetXattr(p, n)
		mustNoErr(t, err)
		m[n] = string(v)
	}
	return m
}

// countdownCtx reports cancellation from the n-th call of Err on, to cancel
// at a precise step of a copy. With n <= 0 it only counts.
type countdownCtx struct {
	context.Context
	n, calls int
}

func (c *countdownCtx) Err() error {
	c.calls++
	if c.n > 0 && c.calls >= c.n {
		return context.Canceled
	}
	return c.Context.Err()
}

func isExist(err error) bool {
	return errors.Is(err, ErrExists) && errors.Is(err, os.ErrExist)
}
