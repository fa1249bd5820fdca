package unionfs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Inode flags (linux/fs.h), which golang.org/x/sys/unix does not define.
const (
	fsImmutableFl = 0x10
	fsAppendFl    = 0x20
)

// getFlags and setFlags are lsattr and chattr on p.
func getFlags(p string) (uint32, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	return unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
}

func setFlags(p string, flags uint32) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(int32(flags)))
}

// TestFileAttr sets append-only on a lower file and immutable on a lower
// directory through the mount, as chattr does: the flags land on the
// upper copies, which then refuse what they should, and read back as
// lsattr shows them. Other ioctls stay ENOTTY.
func TestFileAttr(t *testing.T) {
	requireFUSE(t)
	if os.Geteuid() != 0 {
		t.Skip("needs CAP_LINUX_IMMUTABLE to set append-only and immutable")
	}
	for _, pt := range []Passthrough{PassthroughOn, PassthroughOff} {
		t.Run(map[Passthrough]string{PassthroughOn: "passthrough", PassthroughOff: "no passthrough"}[pt], func(t *testing.T) {
			l := newLayers(t, 1)
			writeFile(t, filepath.Join(l.lowers[0], "f"), "lower\n")
			writeFile(t, filepath.Join(l.lowers[0], "d", "g"), "g")
			want, err := getFlags(filepath.Join(l.lowers[0], "f"))
			if err != nil {
				t.Skipf("the layers' filesystem has no inode flags: %v", err)
			}
			l.mount(t, false, time.Minute, WithPassthrough(pt))
			f, d := filepath.Join(l.mnt, "f"), filepath.Join(l.mnt, "d")
			if got, err := getFlags(f); err != nil || got != want {
				t.Fatalf("flags of the lower file through the mount: %#x, %v; want %#x", got, err, want)
			}
			held, err := os.Open(f) // chattr holds its own descriptor, passed through
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			if err := setFlags(f, want|fsAppendFl); err != nil {
				t.Fatalf("chattr +a: %v", err)
			}
			t.Cleanup(func() { setFlags(filepath.Join(l.upper, "f"), want) })
			if got, err := getFlags(filepath.Join(l.upper, "f")); err != nil || got&fsAppendFl == 0 {
				t.Errorf("flags of the upper copy: %#x, %v; want append-only", got, err)
			}
			af, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatalf("open for appending: %v", err)
			}
			if _, err := af.WriteString("more\n"); err != nil {
				t.Errorf("append: %v", err)
			}
			af.Close()
			if got, _ := os.ReadFile(f); string(got) != "lower\nmore\n" {
				t.Errorf("content %q after the append", got)
			}
			if err := os.WriteFile(f, []byte("over"), 0o644); !errors.Is(err, unix.EPERM) {
				t.Errorf("overwrite of an append-only file: %v, want EPERM", err)
			}
			if err := os.Remove(f); !errors.Is(err, unix.EPERM) {
				t.Errorf("remove of an append-only file: %v, want EPERM", err)
			}

			dflags, err := getFlags(d)
			if err != nil {
				t.Fatal(err)
			}
			if err := setFlags(d, dflags|fsImmutableFl); err != nil {
				t.Fatalf("chattr +i on a directory: %v", err)
			}
			t.Cleanup(func() { setFlags(filepath.Join(l.upper, "d"), dflags) })
			if err := os.WriteFile(filepath.Join(d, "new"), nil, 0o644); !errors.Is(err, unix.EPERM) {
				t.Errorf("create in an immutable directory: %v, want EPERM", err)
			}
			if err := setFlags(d, dflags); err != nil {
				t.Fatalf("chattr -i: %v", err)
			}
			if err := os.WriteFile(filepath.Join(d, "new"), nil, 0o644); err != nil {
				t.Errorf("create after chattr -i: %v", err)
			}

			if _, err := unix.IoctlGetTermios(int(held.Fd()), unix.TCGETS); !errors.Is(err, unix.ENOTTY) {
				t.Errorf("TCGETS: %v, want ENOTTY", err)
			}
		})
	}
}
