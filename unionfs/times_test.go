package unionfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestChownNothing: chown(path, -1, -1) changes the file's ctime on Linux,
// and on kernel overlayfs copies a lower file up first. The kernel sends it
// as a setattr that changes nothing.
func TestChownNothing(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	writeFile(t, filepath.Join(l.lowers[0], "lower"), "lower")
	l.mount(t, false, time.Minute)
	writeFile(t, filepath.Join(l.mnt, "upper"), "upper")
	for _, name := range []string{"lower", "upper"} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(l.mnt, name)
			var before, after unix.Stat_t
			if err := unix.Lstat(p, &before); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			if err := unix.Chown(p, -1, -1); err != nil {
				t.Fatalf("chown -1 -1: %v", err)
			}
			if err := unix.Lstat(p, &after); err != nil {
				t.Fatal(err)
			}
			if after.Ctim == before.Ctim {
				t.Errorf("ctime %v unchanged by chown -1 -1", before.Ctim)
			}
			if after.Ino != before.Ino || after.Uid != before.Uid || after.Gid != before.Gid {
				t.Errorf("chown -1 -1 changed ino/uid/gid: %d %d:%d -> %d %d:%d",
					before.Ino, before.Uid, before.Gid, after.Ino, after.Uid, after.Gid)
			}
			if _, err := os.Lstat(filepath.Join(l.upper, name)); err != nil {
				t.Errorf("no copy in the upper: %v", err)
			}
		})
	}
}

// TestLowerAtime: reading a lower file (not passed through: the kernel
// opens its own backing file for that) and listing a lower directory
// leave their access times alone, as on kernel overlayfs. The times are
// set so that relatime would update them.
func TestLowerAtime(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	dir := filepath.Join(l.lowers[0], "d")
	file := filepath.Join(dir, "f")
	writeFile(t, file, "lower")
	old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{file, dir} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	l.mount(t, false, time.Minute, WithPassthrough(PassthroughOff))
	if got, err := os.ReadFile(filepath.Join(l.mnt, "d", "f")); err != nil || string(got) != "lower" {
		t.Fatalf("read d/f: %q, %v", got, err)
	}
	if ents, err := os.ReadDir(filepath.Join(l.mnt, "d")); err != nil || len(ents) != 1 {
		t.Fatalf("list d: %v, %v", ents, err)
	}
	for _, p := range []string{file, dir} {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if at := time.Unix(st.Atim.Unix()); !at.Equal(old) {
			t.Errorf("%s: atime %v, want %v (untouched)", p, at, old)
		}
	}
}
