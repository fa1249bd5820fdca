package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// subject is the binary under test, resolved once by TestMain.
var subject string

// TestMain resolves the subject: LAMINA_UNIONMOUNT if set, otherwise a fresh
// build of ./cmd/unionmount. A failed build fails the whole package with the
// compiler's output, rather than silently testing something else.
func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if p := os.Getenv("LAMINA_UNIONMOUNT"); p != "" {
		abs, err := exec.LookPath(p)
		if err != nil && !filepath.IsAbs(p) && strings.Contains(p, "/") {
			// go test runs in tests/; accept a path relative to the module root.
			abs, err = exec.LookPath(filepath.Join("..", p))
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "tests: LAMINA_UNIONMOUNT=%s: %v\n", p, err)
			return 1
		}
		subject, _ = filepath.Abs(abs)
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "lamina-subject-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "tests: make build dir: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The rootless test runs the subject as another user.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "tests: chmod build dir: %v\n", err)
		return 1
	}
	subject = filepath.Join(dir, "unionmount")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", subject, "./cmd/unionmount")
	cmd.Dir = ".." // the module root; go test runs in the package directory
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "tests: build ./cmd/unionmount: %v\n%s"+
			"tests: set LAMINA_UNIONMOUNT=/path/to/binary to test another build\n", err, out)
		return 1
	}
	return m.Run()
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

// subjectIsFuseOverlayfs reports whether the subject is fuse-overlayfs
// itself, which takes no lamina-specific options and has no --unmount.
func subjectIsFuseOverlayfs() bool {
	return strings.Contains(filepath.Base(subject), "fuse-overlayfs")
}

// subjectArgs returns the arguments that mount lowers (top first) with an
// optional upper and work dir on mnt. extra options are appended to -o.
func subjectArgs(lowers []string, upper, work, mnt string, foreground bool, extra ...string) []string {
	args := subjectFlags()
	if foreground {
		args = append(args, "-f")
	}
	opts := "lowerdir=" + strings.Join(lowers, ":")
	if upper != "" {
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	for _, e := range extra {
		opts += "," + e
	}
	return append(args, "-o", opts, mnt)
}

// subjectFlags returns the lamina-only flags every mount passes: the driver
// (LAMINA_UNIONMOUNT_DRIVER, default fuse). fuse-overlayfs gets none.
func subjectFlags() []string {
	if subjectIsFuseOverlayfs() {
		return nil
	}
	return []string{"--driver", subjectDriver()}
}

// subjectUnmountCmd returns the command line that unmounts mnt the way the
// subject documents it.
func subjectUnmountCmd(mnt string) []string {
	if subjectIsFuseOverlayfs() {
		return []string{"fusermount3", "-u", mnt}
	}
	return []string{subject, "--unmount", mnt}
}

// subjectDriver is the --driver lamina runs with (LAMINA_UNIONMOUNT_DRIVER,
// default fuse).
func subjectDriver() string {
	if d := os.Getenv("LAMINA_UNIONMOUNT_DRIVER"); d != "" {
		return d
	}
	return "fuse"
}
