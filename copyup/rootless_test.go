package copyup

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nobody is the unprivileged id the rootless children run as.
const nobody = 65534

// TestRootless runs Copy in a child process without privileges, as a
// rootless union daemon would: lchown and security.* xattrs are refused and
// a read-only directory cannot be renamed without the u+w detour.
func TestRootless(t *testing.T) {
	requireRoot(t) // to build sources owned by others and to drop to nobody
	tests := []struct {
		name    string
		build   func(t *testing.T, src string)
		strict  bool
		wantErr string // in the child's stderr
		check   func(t *testing.T, src, dst string)
	}{
		{
			name: "root-owned file keeps the daemon's owner and drops refused xattrs",
			build: func(t *testing.T, p string) {
				writeAt(t, p, 0, []byte("data"))
				mustNoErr(t, unix.Chmod(p, 0o4755))
				mustNoErr(t, unix.Setxattr(p, "user.keep", []byte("1"), 0))
				mustNoErr(t, unix.Setxattr(p, "security.lamina.test", []byte("s"), 0))
			},
			check: func(t *testing.T, src, dst string) {
				st := lstat(t, dst)
				if st.Uid != nobody || st.Mode&0o7777 != 0o4755 {
					t.Errorf("uid %d mode %#o, want %d and 04755", st.Uid, st.Mode&0o7777, nobody)
				}
				got := xattrs(t, dst)
				if got["user.keep"] != "1" || got["security.lamina.test"] != "" {
					t.Errorf("xattrs = %q, want user.keep only", got)
				}
				assertSameContent(t, src, dst)
			},
		},
		{
			name:  "read-only directory",
			build: func(t *testing.T, p string) { mustNoErr(t, os.Mkdir(p, 0o555)) },
			check: func(t *testing.T, src, dst string) {
				s, d := lstat(t, src), lstat(t, dst)
				if d.Mode != s.Mode || d.Mtim != s.Mtim {
					t.Errorf("mode %#o mtime %v, want %#o %v", d.Mode, d.Mtim, s.Mode, s.Mtim)
				}
			},
		},
		{
			name:    "strict owner fails",
			build:   func(t *testing.T, p string) { writeAt(t, p, 0, []byte("data")) },
			strict:  true,
			wantErr: "lchown",
		},
	}
	self := copyTestBinary(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testCtx(t, 30*time.Second)
			l := newLayout(t)
			for _, p := range []string{filepath.Dir(l.workdir), l.work(), l.upper} {
				mustNoErr(t, os.Chown(p, nobody, nobody))
			}
			// t.TempDir and its parent are private to root.
			base := filepath.Dir(l.workdir)
			mustNoErr(t, os.Chmod(base, 0o755))
			mustNoErr(t, os.Chmod(filepath.Dir(base), 0o755))
			src, dst := filepath.Join(l.lower, "src"), filepath.Join(l.upper, "dst")
			tt.build(t, src)

			cmd := exec.CommandContext(ctx, self, "-test.run=^$")
			cmd.Env = append(os.Environ(), envChild+"=1", envWorkdir+"="+l.workdir, envSrc+"="+src, envDst+"="+dst)
			if tt.strict {
				cmd.Env = append(cmd.Env, envStrict+"=1")
			}
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(stderr.String(), tt.wantErr) {
					t.Fatalf("child: %v: %s; want an error about %s", err, stderr.String(), tt.wantErr)
				}
				if _, err := os.Lstat(dst); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("destination after failure: %v, want none", err)
				}
			} else {
				if err != nil {
					t.Fatalf("child: %v: %s", err, stderr.String())
				}
				tt.check(t, src, dst)
			}
			l.assertWorkEmpty(t)
		})
	}
}

// copyTestBinary copies the test binary where nobody can execute it (the
// go build cache directory is private to root).
func copyTestBinary(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "copyup-bin-")
	mustNoErr(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	mustNoErr(t, os.Chmod(dir, 0o755))
	in, err := os.Open(os.Args[0])
	mustNoErr(t, err)
	defer in.Close()
	p := filepath.Join(dir, "copyup.test")
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	mustNoErr(t, err)
	_, err = io.Copy(out, in)
	mustNoErr(t, err)
	mustNoErr(t, out.Close())
	return p
}
