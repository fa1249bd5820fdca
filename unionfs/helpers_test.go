package unionfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireFUSE skips a test that cannot mount FUSE here, saying why.
func requireFUSE(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount FUSE and write trusted xattrs")
	}
	if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
		t.Skipf("needs /dev/fuse: %v", err)
	}
}

// layers makes n lower directories plus upper, work and mountpoint
// directories under one temp dir.
type layers struct {
	lowers           []string
	upper, work, mnt string
}

func newLayers(t *testing.T, n int) *layers {
	t.Helper()
	base := t.TempDir()
	l := &layers{upper: filepath.Join(base, "upper"), work: filepath.Join(base, "work"), mnt: filepath.Join(base, "mnt")}
	for i := 0; i < n; i++ {
		l.lowers = append(l.lowers, filepath.Join(base, "lower"+string(rune('0'+i))))
	}
	for _, d := range append([]string{l.upper, l.work, l.mnt}, l.lowers...) {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// mount serves the layers at l.mnt for the rest of the test, with a
// watchdog that detaches the mount if the test outlives timeout, so a
// stuck FUSE request fails the test instead of hanging the run.
func (l *layers) mount(t *testing.T, readOnly bool, timeout time.Duration, opts ...Option) *Server {
	t.Helper()
	cfg := Config{Lowers: l.lowers, Upper: l.upper, Work: l.work}
	if readOnly {
		cfg = Config{Lowers: l.lowers}
	}
	u, err := New(cfg, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return l.serve(t, u, timeout)
}

// serve mounts u at l.mnt for the rest of the test, with mount's watchdog.
func (l *layers) serve(t *testing.T, u *Union, timeout time.Duration) *Server {
	t.Helper()
	srv, err := u.Mount(l.mnt)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	dog := time.AfterFunc(timeout, func() {
		t.Errorf("watchdog: test still running after %v; detaching %s", timeout, l.mnt)
		unix.Unmount(l.mnt, unix.MNT_DETACH)
	})
	t.Cleanup(func() {
		dog.Stop()
		if err := srv.Unmount(); err != nil {
			unix.Unmount(l.mnt, unix.MNT_DETACH)
		}
		srv.Wait()
	})
	return srv
}

func writeFile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
