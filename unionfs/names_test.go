package unionfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReservedNames creates entries named like whiteout markers in every
// way there is: each is refused with EINVAL, and leaves nothing in the
// upper that would hide the lower file it names.
func TestReservedNames(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	writeFile(t, filepath.Join(l.lowers[0], "d", "x"), "lower x")
	writeFile(t, filepath.Join(l.lowers[0], "src"), "src")
	l.mount(t, false, time.Minute)
	d := filepath.Join(l.mnt, "d")
	tests := []struct {
		name string
		op   func(p string) error
	}{
		{name: "create", op: func(p string) error { return os.WriteFile(p, nil, 0o644) }},
		{name: "mkdir", op: func(p string) error { return unix.Mkdir(p, 0o755) }},
		{name: "mknod", op: func(p string) error { return unix.Mknod(p, unix.S_IFIFO|0o644, 0) }},
		{name: "symlink", op: func(p string) error { return unix.Symlink("x", p) }},
		{name: "link", op: func(p string) error { return unix.Link(filepath.Join(l.mnt, "src"), p) }},
		{name: "rename", op: func(p string) error { return unix.Rename(filepath.Join(l.mnt, "src"), p) }},
	}
	for _, tc := range tests {
		for _, name := range []string{".wh.x", ".wh..wh..opq"} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				if err := tc.op(filepath.Join(d, name)); !errors.Is(err, unix.EINVAL) {
					t.Errorf("%s %s: %v, want EINVAL", tc.name, name, err)
				}
				if got, err := os.ReadFile(filepath.Join(d, "x")); err != nil || string(got) != "lower x" {
					t.Errorf("d/x after %s %s: %q, %v; want the lower file", tc.name, name, got, err)
				}
				if ents, err := os.ReadDir(d); err != nil || len(ents) != 1 {
					t.Errorf("d lists %v (%v), want x alone", ents, err)
				}
				if _, err := os.Lstat(filepath.Join(l.upper, "d", name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("the upper holds d/%s: %v", name, err)
				}
			})
		}
	}
}

// TestAliasForgotten copies a lower file up and has the kernel forget it:
// the alias of its copied-up identity goes with the node, and the file
// keeps its inode number.
func TestAliasForgotten(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to drop the kernel's caches")
	}
	l := newLayers(t, 1)
	writeFile(t, filepath.Join(l.lowers[0], "f"), "data")
	u := l.mount(t, false, time.Minute, WithPassthrough(PassthroughOff)).u
	p := filepath.Join(l.mnt, "f")
	var before, after unix.Stat_t
	if err := unix.Stat(p, &before); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil { // a copy-up
		t.Fatal(err)
	}
	aliases := func() (n int) {
		u.aliases.Range(func(_, _ any) bool { n++; return true })
		return n
	}
	if n := aliases(); n != 1 {
		t.Fatalf("%d aliases after the copy-up, want 1", n)
	}
	for deadline := time.Now().Add(10 * time.Second); aliases() != 0 && time.Now().Before(deadline); {
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := aliases(); n != 0 {
		t.Fatalf("%d aliases after the kernel forgot the file, want 0", n)
	}
	if err := unix.Stat(p, &after); err != nil {
		t.Fatal(err)
	}
	if after.Ino != before.Ino || after.Mode&0o777 != 0o600 {
		t.Errorf("after the copy-up and forget: ino %d mode %o; want ino %d mode 600", after.Ino, after.Mode&0o777, before.Ino)
	}
}
