package archive

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// FuzzLoad feeds untrusted bytes to Load as an archive file: it must not
// panic or hang, and when it fails no image may be in the store.
func FuzzLoad(f *testing.F) {
	img := testImage(f, true, tarOf(f, "a/", "", "a/b", "c"))
	for _, p := range []string{
		tarDir(f, makeLayout(f, []v1.Image{img}, []string{"fuzz:v1"})),
		writeDockerSave(f, map[string]v1.Image{"fuzz:v1": testImage(f, false, tarOf(f, "x", "y"))}),
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("not an archive"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		st := newStore(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := Load(ctx, st, p); err != nil {
			if imgs, _ := st.Images(); len(imgs) != 0 {
				t.Fatalf("Load failed (%v) but stored %v", err, imgs)
			}
		}
	})
}
