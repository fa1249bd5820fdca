package unionfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/unionfs/uring"
)

// TestURingMount: with uring=on the union's requests go through the rings
// (where the kernel offers them), with uring=off none do, and asking for
// them together with debug output is refused.
func TestURingMount(t *testing.T) {
	requireFUSE(t)
	for _, tc := range []struct {
		name  string
		mode  URing
		rings bool
	}{
		{name: "on", mode: URingOn, rings: true},
		{name: "off", mode: URingOff},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rings && !uring.Available() {
				t.Skipf("skipping: %v", uring.ErrUnavailable)
			}
			l := newLayers(t, 1)
			writeFile(t, filepath.Join(l.lowers[0], "d/f"), "lower\n")
			srv := l.mount(t, false, time.Minute, WithURing(tc.mode))
			if (srv.URing != nil) != tc.rings {
				t.Fatalf("served through rings: %v, want %v", srv.URing != nil, tc.rings)
			}
			f := filepath.Join(l.mnt, "d/f")
			if err := os.WriteFile(f, []byte("upper\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(l.upper, "d/f")); err != nil || string(b) != "upper\n" {
				t.Fatalf("copy-up through the mount: %q, %v", b, err)
			}
			if tc.rings && srv.URing.Served() == 0 {
				t.Error("no request went through the rings")
			}
		})
	}
	t.Run("debug refused", func(t *testing.T) {
		l := newLayers(t, 1)
		u, err := New(Config{Lowers: l.lowers}, WithURing(URingOn), WithDebug(true))
		if err != nil {
			t.Fatal(err)
		}
		srv, err := u.Mount(l.mnt)
		if err == nil {
			srv.Unmount()
			t.Fatal("uring=on with debug output mounted")
		}
		if !strings.Contains(err.Error(), "uring=on") {
			t.Errorf("error %q does not name uring=on", err)
		}
	})
}
