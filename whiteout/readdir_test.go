package whiteout_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

// mixedLayer makes a directory holding every kind of entry and every
// whiteout form, with or without the xwhiteout marker on the directory.
func mixedLayer(t *testing.T, dir string, xmarker bool) {
	wt.File(t, filepath.Join(dir, "reg"), "data")
	wt.File(t, filepath.Join(dir, "empty"), "")
	wt.Dir(t, filepath.Join(dir, "sub"))
	symlink(t, "reg", filepath.Join(dir, "lnk"))
	mknod(t, filepath.Join(dir, "fifo"), unix.S_IFIFO|0o644, 0)
	mknod(t, filepath.Join(dir, "null"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3)))
	wt.Whiteout(t, dir, "wh-chr", wt.CharDev)
	wt.Whiteout(t, dir, "wh-oci", wt.OCI)
	wt.Whiteout(t, dir, "wh-lower-only", wt.OCI)
	wt.File(t, filepath.Join(dir, "both"), "")
	wt.Whiteout(t, dir, "both", wt.OCI)
	wt.Dir(t, filepath.Join(dir, ".wh.wh-ocidir"))
	wt.Opaque(t, dir, wt.OpaqueFile)
	wt.File(t, filepath.Join(dir, ".wh..wh.plnk"), "")
	wt.File(t, filepath.Join(dir, ".wh."), "")
	wt.File(t, filepath.Join(dir, ".wh.."), "")
	wt.File(t, filepath.Join(dir, ".wh..."), "")
	if xmarker {
		wt.Whiteout(t, dir, "wh-xt", wt.XTrusted)
		wt.Whiteout(t, dir, "wh-xu", wt.XUser)
		return
	}
	for _, n := range []string{"wh-xt", "wh-xu"} {
		wt.File(t, filepath.Join(dir, n), "")
	}
	wt.Xattr(t, filepath.Join(dir, "wh-xt"), "trusted.overlay.whiteout", "")
	wt.Xattr(t, filepath.Join(dir, "wh-xu"), "user.overlay.whiteout", "")
}

func TestReadDir(t *testing.T) {
	wt.RequireRoot(t)
	common := map[string]uint8{
		"reg": unix.DT_REG, "empty": unix.DT_REG, "sub": unix.DT_DIR, "lnk": unix.DT_LNK,
		"fifo": unix.DT_FIFO, "null": unix.DT_CHR, "both": unix.DT_REG,
	}
	commonWh := []string{"wh-chr", "wh-oci", "wh-ocidir", "wh-lower-only"}
	tests := []struct {
		name    string
		xmarker bool
		ents    map[string]uint8
		wh      []string
	}{
		{name: "with x marker", xmarker: true, ents: common,
			wh: append(slices.Clone(commonWh), "wh-xt", "wh-xu")},
		{name: "without x marker", ents: union(common, map[string]uint8{
			"wh-xt": unix.DT_REG, "wh-xu": unix.DT_REG}), wh: commonWh},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mixedLayer(t, dir, tc.xmarker)
			info, err := whiteout.Inspect(dir)
			if err != nil {
				t.Fatal(err)
			}
			if info.XWhiteouts != tc.xmarker || !info.Opaque {
				t.Fatalf("Inspect = %+v", info)
			}
			ents, wh, err := whiteout.ReadDir(dir, info.XWhiteouts)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]uint8{}
			for _, e := range ents {
				got[e.Name] = e.Type
				var st unix.Stat_t
				if err := unix.Lstat(filepath.Join(dir, e.Name), &st); err != nil || st.Ino != e.Ino {
					t.Errorf("%s: ino %d, lstat %d %v", e.Name, e.Ino, st.Ino, err)
				}
			}
			if !maps.Equal(got, tc.ents) {
				t.Errorf("entries = %v, want %v", got, tc.ents)
			}
			if w := slices.Sorted(maps.Keys(wh)); !slices.Equal(w, slices.Sorted(slices.Values(tc.wh))) {
				t.Errorf("whiteouts = %v, want %v", w, slices.Sorted(slices.Values(tc.wh)))
			}
			checkAgreesWithLookup(t, dir, info.XWhiteouts, ents, wh)
		})
	}
}

// checkAgreesWithLookup checks the invariant that ReadDir and Lookup agree
// on every raw name in dir and every whited-out name.
func checkAgreesWithLookup(t *testing.T, dir string, xwh bool, ents []whiteout.Dirent, wh map[string]struct{}) {
	t.Helper()
	listed := map[string]bool{}
	for _, e := range ents {
		listed[e.Name] = true
	}
	raw, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := slices.Collect(maps.Keys(wh))
	for _, e := range raw {
		names = append(names, e.Name())
	}
	for _, n := range names {
		var st unix.Stat_t
		state, err := whiteout.Lookup(dir, n, xwh, &st)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", n, err)
		}
		_, isWh := wh[n]
		want := whiteout.Absent
		switch {
		case listed[n]:
			want = whiteout.Present
		case isWh:
			want = whiteout.WhitedOut
		}
		if state != want {
			t.Errorf("Lookup(%q) = %v, ReadDir says %v", n, state, want)
		}
	}
}

func TestReadDirLarge(t *testing.T) {
	dir := t.TempDir()
	// Long names make big records: 450 of them take four getdents calls.
	const n = 450
	pad := strings.Repeat("x", 200)
	for i := range n {
		name := fmt.Sprintf("%05d-%s", i, pad)
		if i%3 == 0 {
			wt.Whiteout(t, dir, name, wt.CharDev)
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ents, wh, err := whiteout.ReadDir(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != n-n/3 || len(wh) != n/3 {
		t.Errorf("got %d entries and %d whiteouts, want %d and %d", len(ents), len(wh), n-n/3, n/3)
	}
}

func TestReadDirEmpty(t *testing.T) {
	ents, wh, err := whiteout.ReadDir(t.TempDir(), true)
	if err != nil || len(ents) != 0 || wh != nil {
		t.Errorf("ReadDir(empty) = %v, %v, %v", ents, wh, err)
	}
}

func TestReadDirNotDir(t *testing.T) {
	dir := t.TempDir()
	wt.File(t, filepath.Join(dir, "f"), "")
	if _, _, err := whiteout.ReadDir(filepath.Join(dir, "f"), false); err == nil {
		t.Error("ReadDir of a file succeeded")
	}
	if _, _, err := whiteout.ReadDir(filepath.Join(dir, "missing"), false); !os.IsNotExist(err) && err == nil {
		t.Error("ReadDir of a missing directory succeeded")
	}
}

func union(a, b map[string]uint8) map[string]uint8 {
	m := maps.Clone(a)
	maps.Copy(m, b)
	return m
}
