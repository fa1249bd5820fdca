package whiteout

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadDirUnknownType feeds entries with d_type DT_UNKNOWN, as some
// filesystems report, and checks that ReadDir stats them.
func TestReadDirUnknownType(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "reg"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("reg", filepath.Join(dir, "lnk")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(dir, "wh"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)

	r := dirReader{dir: dir, fd: fd}
	for _, n := range []string{"reg", "sub", "lnk", "wh", "vanished"} {
		r.add(n, unix.DT_UNKNOWN, 1)
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := []Dirent{{"reg", unix.DT_REG, 1}, {"sub", unix.DT_DIR, 1}, {"lnk", unix.DT_LNK, 1}}
	if len(r.ents) != len(want) {
		t.Fatalf("entries = %v, want %v", r.ents, want)
	}
	for i := range want {
		if r.ents[i] != want[i] {
			t.Errorf("entry %d = %v, want %v", i, r.ents[i], want[i])
		}
	}
	if _, ok := r.wh["wh"]; !ok || len(r.wh) != 1 {
		t.Errorf("whiteouts = %v, want [wh]", r.wh)
	}
}
