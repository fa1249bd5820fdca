package unionfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadahead checks that a mount gets lamina's readahead (so reads reach
// the daemon in large requests) and that a file larger than it reads back
// whole.
func TestReadahead(t *testing.T) {
	requireFUSE(t)
	l := newLayers(t, 1)
	want := bytes.Repeat([]byte("0123456789abcdef"), 3*maxReadAhead/16+7)
	if err := os.WriteFile(filepath.Join(l.lowers[0], "big"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	l.mount(t, false, time.Minute, WithPassthrough(PassthroughOff))

	var st unix.Stat_t
	if err := unix.Stat(l.mnt, &st); err != nil {
		t.Fatal(err)
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	got, err := os.ReadFile(p)
	if err != nil {
		t.Skipf("no sysfs backing device for the mount: %v", err)
	}
	if err := unix.Access(p, unix.W_OK); err != nil {
		t.Skipf("%s is not writable here (read-only sysfs): the mount keeps the kernel's readahead", p)
	}
	if s := strings.TrimSpace(string(got)); s != fmt.Sprint(maxReadAhead>>10) {
		t.Errorf("%s = %s, want %d", p, s, maxReadAhead>>10)
	}
	data, err := os.ReadFile(filepath.Join(l.mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("read %d bytes through the mount, want the %d bytes of the lower file", len(data), len(want))
	}
}
