package copyup

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkCopySmall copies up 4 KiB files one after the other, as a
// union does when a program appends to many lower files: the per-file
// cost of a copy-up without FUSE around it, with and without fsync.
func BenchmarkCopySmall(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []Option
	}{
		{"fsync", nil},
		{"nosync", []Option{NoSync()}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := testCtx(b, 10*time.Minute)
			l := newLayout(b)
			src := filepath.Join(l.lower, "f")
			writeAt(b, src, 0, pattern(4096, 14))
			c := l.copier(b, bc.opts...)
			extra := map[string][]byte{"user.origin": []byte("12345")}
			i := 0
			for b.Loop() {
				dst := filepath.Join(l.upper, strconv.Itoa(i))
				if err := c.Copy(ctx, src, dst, nil, extra); err != nil {
					b.Fatal(fmt.Errorf("copy %d: %w", i, err))
				}
				i++
			}
		})
	}
}
