package copyup

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRefusals(t *testing.T) {
	var none *refusals
	none.add(refusedClone, 1) // a nil set records nothing and does not panic
	if none.has(refusedClone, 1) {
		t.Error("nil refusals has a refusal")
	}
	r := new(refusals)
	r.add(refusedClone, 7)
	tests := []struct {
		name   string
		method int
		dev    uint64
		want   bool
	}{
		{"the refused method on its device", refusedClone, 7, true},
		{"the same method on another device", refusedClone, 8, false},
		{"another method on the same device", refusedCFR, 7, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.has(tt.method, tt.dev); got != tt.want {
				t.Errorf("has(%d, %d) = %v, want %v", tt.method, tt.dev, got, tt.want)
			}
		})
	}
}

// TestCopierRemembersRefusals checks that a Copier remembers that the
// temp directory's filesystem refuses FICLONE (ext4 and tmpfs do), and
// that a remembered refusal only changes the method, not the copy.
func TestCopierRemembersRefusals(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	l := newLayout(t)
	src := filepath.Join(l.lower, "f")
	writeAt(t, src, 0, pattern(3*4096+5, 13))
	st := lstat(t, src)
	c := l.copier(t)
	mustNoErr(t, c.Copy(ctx, src, filepath.Join(l.upper, "first"), nil, nil))
	assertSameContent(t, src, filepath.Join(l.upper, "first"))

	probe := filepath.Join(t.TempDir(), "probe")
	writeAt(t, probe, 0, nil)
	clonable := cloneWorks(t, src, probe)
	if got := c.refused.has(refusedClone, st.Dev); got == clonable {
		t.Errorf("clone refusal remembered = %v, but FICLONE works here = %v", got, clonable)
	}

	// With both fast methods known refused, the copy reads and writes.
	c.refused.add(refusedClone, st.Dev)
	c.refused.add(refusedCFR, st.Dev)
	in, err := os.Open(src)
	mustNoErr(t, err)
	defer in.Close()
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	mustNoErr(t, err)
	defer out.Close()
	j := dataJob{dfd: int(out.Fd()), sfd: int(in.Fd()), dstName: out.Name(), srcName: in.Name(),
		srcSt: st, size: st.Size, first: MethodClone, refused: c.refused}
	method, err := j.run(ctx)
	mustNoErr(t, err)
	if method != MethodReadWrite {
		t.Errorf("method with clone and copy_file_range refused = %q, want %q", method, MethodReadWrite)
	}
	assertSameContent(t, src, out.Name())
	mustNoErr(t, c.Copy(ctx, src, filepath.Join(l.upper, "second"), nil, nil))
	assertSameContent(t, src, filepath.Join(l.upper, "second"))
}

// cloneWorks reports whether FICLONE from src into dst succeeds.
func cloneWorks(t *testing.T, src, dst string) bool {
	t.Helper()
	in, err := os.Open(src)
	mustNoErr(t, err)
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY, 0)
	mustNoErr(t, err)
	defer out.Close()
	return unix.IoctlFileClone(int(out.Fd()), int(in.Fd())) == nil
}
