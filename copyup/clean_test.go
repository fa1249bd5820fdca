package copyup

import (
	"os"
	"path/filepath"
	"testing"
)

func TestClean(t *testing.T) {
	tests := []struct {
		name string
		// setup fills workdir; outside is a directory next to workdir that
		// Clean must not touch either.
		setup   func(t *testing.T, workdir, outside string)
		wantErr bool
	}{
		{
			name:  "missing work dir is created",
			setup: func(t *testing.T, workdir, outside string) {},
		},
		{
			name: "leftovers are removed",
			setup: func(t *testing.T, workdir, outside string) {
				work := filepath.Join(workdir, workName)
				mustNoErr(t, os.Mkdir(work, 0o700))
				writeAt(t, filepath.Join(work, "#lamina-1-1"), 0, []byte("torn"))
				mustNoErr(t, os.Mkdir(filepath.Join(work, "#lamina-1-2"), 0o555))
				mustNoErr(t, os.MkdirAll(filepath.Join(work, "nested", "deeper"), 0o700))
				writeAt(t, filepath.Join(work, "nested", "deeper", "f"), 0, []byte("x"))
				mustNoErr(t, os.Chmod(filepath.Join(work, "nested", "deeper", "f"), 0))
				mustNoErr(t, os.Symlink(outside, filepath.Join(work, "link-out")))
				mustNoErr(t, os.Symlink(filepath.Join(outside, "file"), filepath.Join(work, "link-file")))
			},
		},
		{
			name: "work dir that is a symlink is refused",
			setup: func(t *testing.T, workdir, outside string) {
				mustNoErr(t, os.Symlink(outside, filepath.Join(workdir, workName)))
			},
			wantErr: true,
		},
		{
			name: "work dir that is a file is refused",
			setup: func(t *testing.T, workdir, outside string) {
				writeAt(t, filepath.Join(workdir, workName), 0, []byte("x"))
			},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			workdir, outside := filepath.Join(base, "workdir"), filepath.Join(base, "outside")
			mustNoErr(t, os.Mkdir(workdir, 0o755))
			mustNoErr(t, os.Mkdir(outside, 0o755))
			// Things Clean must leave alone.
			keep := []string{
				filepath.Join(outside, "file"),
				filepath.Join(workdir, "sibling"),
				filepath.Join(workdir, "index", "entry"),
			}
			for _, p := range keep {
				mustNoErr(t, os.MkdirAll(filepath.Dir(p), 0o755))
				writeAt(t, p, 0, []byte("keep"))
			}
			tt.setup(t, workdir, outside)

			err := Clean(workdir)
			if tt.wantErr {
				if err == nil {
					t.Error("Clean succeeded, want an error")
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				work := filepath.Join(workdir, workName)
				fi, err := os.Lstat(work)
				mustNoErr(t, err)
				if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
					t.Errorf("work dir mode = %v, want drwx------", fi.Mode())
				}
				if ents, _ := os.ReadDir(work); len(ents) != 0 {
					t.Errorf("work dir still has %d entries", len(ents))
				}
			}
			for _, p := range keep {
				if b, err := os.ReadFile(p); err != nil || string(b) != "keep" {
					t.Errorf("%s: %q, %v; want it untouched", p, b, err)
				}
			}
		})
	}
}
