package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
)

// Workload is one timed operation on a freshly mounted configuration.
type Workload struct {
	// Name is the stable identifier used by --workloads.
	Name string
	// Title is the row label of the table; Short labels the chart.
	Title string
	Short string
	// Run is the timed region. The returned check runs after the clock
	// stops and says whether the filesystem gave the right answer.
	Run func(ctx context.Context, mnt string) (check func() error, err error)
	// Bulky says a run leaves a large file in the upper layer: its
	// directories are removed at once instead of at the end of the whole
	// run (one file is cheap to delete, and a GiB per run per
	// configuration would fill the disk).
	Bulky bool
}

// WorkloadNames lists every workload in report order.
var WorkloadNames = []string{"stat", "tree-read", "seq-read", "untar", "copyup-small", "copyup-big", "program-start"}

// Workloads returns the workloads over fx, in report order.
func Workloads(fx *Fixture) []Workload {
	return []Workload{
		{
			Name:  "stat",
			Title: fmt.Sprintf("stat every entry of /usr (%s entries; find -printf %%s)", thousands(int64(fx.UsrEntries))),
			Short: "stat /usr",
			Run: func(ctx context.Context, mnt string) (func() error, error) {
				var lines lineCounter
				err := runTimed(ctx, &lines, "find", filepath.Join(mnt, "usr"), "-printf", "%s\n")
				return func() error { return expect("entries listed", int64(lines), int64(fx.UsrEntries)) }, err
			},
		},
		{
			Name:  "tree-read",
			Title: fmt.Sprintf("read every file of /usr (%s; tar -cf - | drain)", humanBytes(fx.UsrBytes)),
			Short: "read /usr (tar)",
			Run: func(ctx context.Context, mnt string) (func() error, error) {
				var n byteCounter
				err := runTimed(ctx, &n, "tar", "-C", mnt, "-cf", "-", "usr")
				return func() error {
					if int64(n) < fx.UsrBytes {
						return fmt.Errorf("check tar size: %d bytes, want at least %d", n, fx.UsrBytes)
					}
					return nil
				}, err
			},
		},
		{
			Name:  "seq-read",
			Title: fmt.Sprintf("sequential read of a %s file (dd bs=1M)", humanBytes(fx.BigSize)),
			Short: "seq read " + humanBytes(fx.BigSize),
			Run: func(ctx context.Context, mnt string) (func() error, error) {
				var stderr bytes.Buffer
				cmd := command(ctx, "dd", "if="+filepath.Join(mnt, fx.BigFile), "of=/dev/null", "bs=1M")
				cmd.Stderr = &stderr
				err := cmd.Run()
				if err != nil {
					err = fmt.Errorf("run dd: %w%s", err, lastLines(stderr.String(), 1))
				}
				return func() error {
					m := ddBytes.FindStringSubmatch(stderr.String())
					if m == nil {
						return fmt.Errorf("parse dd output %q", stderr.String())
					}
					n, _ := strconv.ParseInt(m[1], 10, 64)
					return expect("bytes read", n, fx.BigSize)
				}, err
			},
		},
		{
			Name:  "untar",
			Title: fmt.Sprintf("untar %s files of %s into the mount (tar -xf)", thousands(int64(fx.TarFiles)), humanBytes(fx.TarFileSize)),
			Short: fmt.Sprintf("untar %s × %s", thousands(int64(fx.TarFiles)), humanBytes(fx.TarFileSize)),
			Run: func(ctx context.Context, mnt string) (func() error, error) {
				err := runTimed(ctx, io.Discard, "tar", "-C", mnt, "-xf", fx.Tarball)
				return func() error {
					n, _, err := countTree(filepath.Join(mnt, fx.TarDir))
					if err != nil {
						return err
					}
					return expect("entries extracted", int64(n), int64(fx.TarFiles+tarDirs+1))
				}, err
			},
		},
		{
			Name:  "copyup-small",
			Title: fmt.Sprintf("append 1 byte to each of %d lower files of %s (copy-up)", len(fx.SmallFiles), humanBytes(fx.SmallSize)),
			Short: fmt.Sprintf("copy-up %d × %s", len(fx.SmallFiles), humanBytes(fx.SmallSize)),
			Run: func(_ context.Context, mnt string) (func() error, error) {
				for _, rel := range fx.SmallFiles {
					if err := appendByte(filepath.Join(mnt, rel)); err != nil {
						return nil, err
					}
				}
				return func() error {
					for _, rel := range fx.SmallFiles {
						if err := expectSize(filepath.Join(mnt, rel), fx.SmallSize+1); err != nil {
							return err
						}
					}
					return nil
				}, nil
			},
		},
		{
			Name:  "copyup-big",
			Bulky: true,
			Title: fmt.Sprintf("append 1 byte to a %s lower file (copy-up)", humanBytes(fx.BigSize)),
			Short: "copy-up " + humanBytes(fx.BigSize),
			Run: func(_ context.Context, mnt string) (func() error, error) {
				path := filepath.Join(mnt, fx.BigFile)
				if err := appendByte(path); err != nil {
					return nil, err
				}
				return func() error {
					if err := expectSize(path, fx.BigSize+1); err != nil {
						return err
					}
					return sameSamples(path, filepath.Join(fx.Lowers[0], fx.BigFile), fx.BigSize)
				}, nil
			},
		},
		{
			Name:  "program-start",
			Title: fx.ProgramText,
			Short: "program start",
			Run: func(ctx context.Context, mnt string) (func() error, error) {
				var stderr bytes.Buffer
				cmd := command(ctx, "chroot", append([]string{mnt}, fx.Program...)...)
				cmd.Stderr = &stderr
				cmd.Env = []string{"PATH=" + chrootPath, "HOME=/root", "LC_ALL=C", "PYTHONDONTWRITEBYTECODE=1"}
				if err := cmd.Run(); err != nil {
					return nil, fmt.Errorf("run chroot: %w%s", err, lastLines(stderr.String(), 2))
				}
				return func() error { return nil }, nil
			},
		},
	}
}

var ddBytes = regexp.MustCompile(`(?m)^(\d+) bytes`)

// warmTools are run, untimed, after the caches are dropped: the host
// binaries and libraries the workloads start should not count.
var warmTools = [][]string{{"find", "--version"}, {"tar", "--version"}, {"dd", "--version"}, {"chroot", "--version"}}

func command(ctx context.Context, prog string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}

// runTimed runs prog with stdout going to out and folds stderr into the
// error.
func runTimed(ctx context.Context, out io.Writer, prog string, args ...string) error {
	var stderr bytes.Buffer
	cmd := command(ctx, prog, args...)
	cmd.Stdout = out
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s: %w%s", prog, err, lastLines(stderr.String(), 2))
	}
	return nil
}

func appendByte(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open %s for append: %w", path, err)
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

func expectSize(path string, want int64) error {
	info, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("check size: %w", err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("check size of %s: %v is not a regular file", path, info.Mode().Type()&fs.ModeType)
	}
	return expect("size of "+filepath.Base(path), info.Size(), want)
}

// sameSamples compares 4 KiB at the start, the middle and the end of the
// first size bytes of two files, and checks that got then ends in the
// appended newline: cheap evidence that a copy-up copied the data.
func sameSamples(got, want string, size int64) error {
	g, err := os.Open(got)
	if err != nil {
		return fmt.Errorf("check copy-up: %w", err)
	}
	defer g.Close()
	w, err := os.Open(want)
	if err != nil {
		return fmt.Errorf("check copy-up: %w", err)
	}
	defer w.Close()
	const n = 4096
	a, b := make([]byte, n), make([]byte, n)
	for _, off := range []int64{0, size / 2, size - n} {
		if _, err := g.ReadAt(a, off); err != nil {
			return fmt.Errorf("check copy-up: read %s: %w", got, err)
		}
		if _, err := w.ReadAt(b, off); err != nil {
			return fmt.Errorf("check copy-up: read %s: %w", want, err)
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("check copy-up: data at offset %d differs from the lower file", off)
		}
	}
	last := make([]byte, 1)
	if _, err := g.ReadAt(last, size); err != nil || last[0] != '\n' {
		return fmt.Errorf("check copy-up: appended byte missing at offset %d (%v)", size, err)
	}
	return nil
}

func expect(what string, got, want int64) error {
	if got != want {
		return fmt.Errorf("check %s: got %d, want %d", what, got, want)
	}
	return nil
}

type lineCounter int64

func (c *lineCounter) Write(p []byte) (int, error) {
	*c += lineCounter(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}

// thousands formats n with commas: 12345 is "12,345".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := ""
	if n < 0 {
		neg, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return neg + s
}
