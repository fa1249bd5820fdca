package unionfs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// direntInos lists dir with getdents64 and returns d_ino by name.
func direntInos(t *testing.T, dir string) map[string]uint64 {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	out := map[string]uint64{}
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
		for b := buf[:n]; len(b) > 0; {
			ino := binary.NativeEndian.Uint64(b[0:8])
			reclen := binary.NativeEndian.Uint16(b[16:18])
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			out[string(name)] = ino
			b = b[reclen:]
		}
	}
}

// TestDirentInoMatchesStat: readdir's d_ino is the st_ino stat reports,
// also for entries whose number does not come from their own layer: a
// copied-up file or symlink (its origin) and a merged directory (its
// lower). Checked
// right after the copy-up and after a remount, when no inode is cached.
func TestDirentInoMatchesStat(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	writeFile(t, filepath.Join(l.lowers[0], "copied"), "x")
	writeFile(t, filepath.Join(l.lowers[0], "plain"), "x")
	writeFile(t, filepath.Join(l.lowers[0], "merged", "inner"), "x")
	writeFile(t, filepath.Join(l.upper, "upperonly"), "x")
	if err := os.Symlink("copied", filepath.Join(l.lowers[0], "link")); err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T) {
		got := direntInos(t, l.mnt)
		for _, name := range []string{"copied", "plain", "merged", "upperonly", "new", "link"} {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(l.mnt, name), &st); err != nil {
				t.Fatal(err)
			}
			if got[name] != st.Ino {
				t.Errorf("%s: d_ino %d, st_ino %d", name, got[name], st.Ino)
			}
		}
	}
	t.Run("after copy-up", func(t *testing.T) {
		l.mount(t, false, time.Minute)
		if err := os.Chmod(filepath.Join(l.mnt, "copied"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(filepath.Join(l.mnt, "link"), 1, 1); err != nil { // copies the symlink up
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(l.mnt, "merged", "added"), "y")
		writeFile(t, filepath.Join(l.mnt, "new"), "y")
		check(t)
	})
	t.Run("after remount", func(t *testing.T) {
		l.mount(t, false, time.Minute)
		check(t)
	})
}
