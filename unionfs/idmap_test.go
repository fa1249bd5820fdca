package unionfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestIDMapping: with uidmapping/gidmapping the union shows the ids stored
// in the layers as the mapped ids and stores what the caller creates as
// the stored ids, as fuse-overlayfs does (its "0:100000:65536" shows a
// file stored as 0 as 100000); squashing overrides what is shown.
func TestIDMapping(t *testing.T) {
	requireFUSE(t)
	uids, err := ParseIDMap("0:100000:65536")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name             string
		opts             []Option
		showUID, showGID uint32 // of a lower file stored as 1000:2000
		newUID, newGID   uint32 // stored for a file root (0, unmapped) creates
	}{
		{name: "mapped", opts: []Option{WithIDMaps(uids, uids)},
			showUID: 101000, showGID: 102000, newUID: overflowID, newGID: overflowID},
		{name: "unmapped shows overflow", opts: []Option{WithIDMaps(IDMap{{Container: 0, Host: 5, Length: 1}}, nil)},
			showUID: overflowID, showGID: 2000, newUID: 5, newGID: 0},
		{name: "squash to root", opts: []Option{WithIDMaps(uids, uids), WithSquash(0, 0)},
			showUID: 0, showGID: 0, newUID: overflowID, newGID: overflowID},
		{name: "identity", showUID: 1000, showGID: 2000, newUID: 0, newGID: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLayers(t, 1)
			f := filepath.Join(l.lowers[0], "f")
			writeFile(t, f, "x")
			if err := os.Lchown(f, 1000, 2000); err != nil {
				t.Fatal(err)
			}
			l.mount(t, false, time.Minute, c.opts...)
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(l.mnt, "f"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != c.showUID || st.Gid != c.showGID {
				t.Errorf("lower file shows as %d:%d, want %d:%d", st.Uid, st.Gid, c.showUID, c.showGID)
			}
			writeFile(t, filepath.Join(l.mnt, "new"), "y")
			if err := unix.Lstat(filepath.Join(l.upper, "new"), &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != c.newUID || st.Gid != c.newGID {
				t.Errorf("new file stored as %d:%d, want %d:%d", st.Uid, st.Gid, c.newUID, c.newGID)
			}
		})
	}
}
