package archive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// tarEntry is one member of a tar built by writeTar: a regular file, or a
// symlink when link is set.
type tarEntry struct {
	name, link string
	data       []byte
}

func writeTar(t *testing.T, ents []tarEntry) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "archive.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// oldDockerSaveShared writes imgs (ref → image) as "docker save a b" did
// before docker 25: a layer an earlier image already holds is written as a
// symlink "<id2>/layer.tar -> ../<id1>/layer.tar".
func oldDockerSaveShared(t *testing.T, refs []string, imgs []v1.Image) string {
	t.Helper()
	var ents []tarEntry
	var entries []dockerEntry
	byDiffID := map[v1.Hash]string{}
	n := 0
	for i, img := range imgs {
		cfg, err := img.RawConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cd, _ := img.ConfigName()
		ents = append(ents, tarEntry{name: cd.Hex + ".json", data: cfg})
		ls, _ := img.Layers()
		var names []string
		for _, l := range ls {
			did, _ := l.DiffID()
			n++
			id := string(rune('a'+n)) + "222"
			name := id + "/layer.tar"
			if first, ok := byDiffID[did]; ok {
				ents = append(ents, tarEntry{name: name, link: "../" + first})
			} else {
				rc, err := l.Uncompressed()
				if err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				buf.ReadFrom(rc)
				rc.Close()
				ents = append(ents, tarEntry{name: name, data: buf.Bytes()})
				byDiffID[did] = name
			}
			names = append(names, name)
		}
		entries = append(entries, dockerEntry{Config: cd.Hex + ".json", RepoTags: []string{refs[i]}, Layers: names})
	}
	m, _ := json.Marshal(entries)
	ents = append(ents, tarEntry{name: "manifest.json", data: m})
	return writeTar(t, ents)
}

// TestLoadSymlinkedSharedLayer loads two images of an old docker save that
// share their first layer through a symlink.
func TestLoadSymlinkedSharedLayer(t *testing.T) {
	a := testImage(t, true)
	b := testImage(t, true, baseTar(t), tarOf(t, "only/", "", "only/file", "x"))
	p := oldDockerSaveShared(t, []string{"a:1", "b:1"}, []v1.Image{a, b})
	st := newStore(t)
	got, err := Load(ctxT(t), st, p)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("loaded %d images, want 2", len(got))
	}
	for ref, img := range map[string]v1.Image{"a:1": a, "b:1": b} {
		if g, w := diffIDs(t, st, ref), imgDiffIDs(t, img); !slices.Equal(g, w) {
			t.Errorf("%s: diff_ids %v, want %v", ref, g, w)
		}
	}
}

// TestIndexTarSymlinks checks which symlinks of a tar count as files.
func TestIndexTarSymlinks(t *testing.T) {
	p := writeTar(t, []tarEntry{
		{name: "dir/file", data: []byte("content")},
		{name: "other/rel", link: "../dir/file"},
		{name: "chain", link: "other/rel"},
		{name: "dot/rel", link: "./../dir/./file"},
		{name: "abs", link: "/dir/file"},
		{name: "escape", link: "../../dir/file"},
		{name: "dangling", link: "dir/nothing"},
		{name: "loop1", link: "loop2"},
		{name: "loop2", link: "loop1"},
	})
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files, err := indexTar(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"other/rel", true},
		{"chain", true},
		{"dot/rel", true},
		{"abs", false},
		{"escape", false},
		{"dangling", false},
		{"loop1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := files[tc.name]
			if ok != tc.want {
				t.Fatalf("%s indexed = %v, want %v", tc.name, ok, tc.want)
			}
			if ok && got != files["dir/file"] {
				t.Errorf("%s = %+v, want dir/file's %+v", tc.name, got, files["dir/file"])
			}
		})
	}
}
