package unionfs

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// TestPosix runs go-fuse's conformance suite on the union, at the root and
// inside a directory that only a lower layer has (so every change copies
// its parent up first), with and without passthrough.
func TestPosix(t *testing.T) {
	requireFUSE(t)
	skip := map[string]string{
		// Two descriptors of one process never conflict under POSIX
		// record locks (ext4 and kernel overlayfs agree); the case
		// expects go-fuse loopback's forwarding to OFD locks.
		"FcntlFlockLocksFile": "expects locks to conflict within one process",
	}
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	// The default transport (io_uring where the kernel offers it) with and
	// without passthrough, and /dev/fuse.
	modes := []struct {
		name string
		pt   Passthrough
		ring URing
	}{
		{"nopassthrough", PassthroughOff, URingAuto},
		{"passthrough", PassthroughOn, URingAuto},
		{"devfuse", PassthroughOff, URingOff},
	}
	for _, m := range modes {
		for _, where := range []string{"", "lowerdir/sub"} {
			for _, name := range names {
				t.Run(name+"/"+m.name+"/"+where, func(t *testing.T) {
					if why, ok := skip[name]; ok {
						t.Skip(why)
					}
					l := newLayers(t, 2)
					if where != "" {
						if err := os.MkdirAll(filepath.Join(l.lowers[1], where), 0o777); err != nil {
							t.Fatal(err)
						}
					}
					l.mount(t, false, time.Minute, WithPassthrough(m.pt), WithURing(m.ring))
					posixtest.All[name](t, filepath.Join(l.mnt, where))
				})
			}
		}
	}
}
