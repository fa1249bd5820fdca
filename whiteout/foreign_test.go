package whiteout_test

import (
	"cmp"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lamina-dev/lamina/whiteout"
	wt "github.com/lamina-dev/lamina/whiteout/whiteouttest"
)

// foreignLayer makes a layer with one marker of each kind, each in its own
// directory so that the expected lists read clearly.
func foreignLayer(t *testing.T, root string) {
	wt.Whiteout(t, root, "gone", wt.OCI)
	wt.Whiteout(t, root, "native", wt.CharDev)
	wt.Opaque(t, mkdir(t, root, "opq-user"), wt.OpaqueUser)
	wt.Opaque(t, mkdir(t, root, "opq-trusted"), wt.OpaqueTrusted)
	wt.Opaque(t, mkdir(t, root, "opq-fuse"), wt.OpaqueFuse)
	wt.Opaque(t, mkdir(t, root, "opq-file"), wt.OpaqueFile)
	wt.Whiteout(t, mkdir(t, root, "x-user"), "a", wt.XUser)
	wt.Whiteout(t, mkdir(t, root, "x-trusted"), "b", wt.XTrusted)
	wt.File(t, filepath.Join(root, "meta", ".wh..wh.plnk"), "")
	wt.File(t, filepath.Join(root, "deep", "er", ".wh.f"), "")
	wt.File(t, filepath.Join(root, "markerdir", ".wh.sub", ".wh.inside"), "")
	wt.File(t, filepath.Join(root, "plain", "file"), "")
	wt.Xattr(t, mkdir(t, root, "redir-user"), "user.overlay.redirect", "/a")
	wt.Xattr(t, mkdir(t, root, "redir-trusted"), "trusted.overlay.redirect", "/b")
	both := mkdir(t, root, "redir-both")
	wt.Xattr(t, both, "user.overlay.redirect", "/c")
	wt.Xattr(t, both, "trusted.overlay.redirect", "/d")
}

func mkdir(t *testing.T, root, name string) string {
	p := filepath.Join(root, name)
	wt.Dir(t, p)
	return p
}

func TestForeignMarkers(t *testing.T) {
	wt.RequireRoot(t)
	common := []whiteout.Marker{
		{Name: "gone", Raw: ".wh.gone"},
		{Dir: "deep/er", Name: "f", Raw: ".wh.f"},
		{Dir: "markerdir", Name: "sub", Raw: ".wh.sub"},
		{Dir: "meta", Raw: ".wh..wh.plnk"},
		{Dir: "opq-file", Opaque: true, Raw: ".wh..wh..opq"},
		{Dir: "opq-fuse", Opaque: true, Xattr: "user.fuseoverlayfs.opaque"},
	}
	tests := []struct {
		name string
		ns   string
		more []whiteout.Marker
	}{
		{name: "trusted", ns: "trusted", more: []whiteout.Marker{
			{Dir: "opq-user", Opaque: true, Xattr: "user.overlay.opaque"},
			{Dir: "x-user", Name: "a", Xattr: "user.overlay.whiteout"},
			// The kernel follows the trusted one, as lamina does.
			{Dir: "redir-user", Redirect: true, Xattr: "user.overlay.redirect"},
		}},
		{name: "user", ns: "user", more: []whiteout.Marker{
			{Dir: "opq-trusted", Opaque: true, Xattr: "trusted.overlay.opaque"},
			{Dir: "x-trusted", Name: "b", Xattr: "trusted.overlay.whiteout"},
			// userxattr follows no redirect.
			{Dir: "redir-both", Redirect: true, Xattr: "trusted.overlay.redirect"},
			{Dir: "redir-trusted", Redirect: true, Xattr: "trusted.overlay.redirect"},
			{Dir: "redir-user", Redirect: true, Xattr: "user.overlay.redirect"},
		}},
	}
	root := t.TempDir()
	foreignLayer(t, root)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := whiteout.ForeignMarkers(root, tc.ns)
			if err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(common), tc.more...)
			key := func(m whiteout.Marker) string { return m.Dir + "\x00" + m.Raw + "\x00" + m.Xattr }
			slices.SortFunc(want, func(a, b whiteout.Marker) int {
				return cmp.Compare(key(a), key(b))
			})
			sorted := slices.Clone(got)
			slices.SortFunc(sorted, func(a, b whiteout.Marker) int {
				return cmp.Compare(key(a), key(b))
			})
			if !slices.Equal(sorted, want) {
				t.Errorf("ForeignMarkers =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
	if _, err := whiteout.ForeignMarkers(root, "security"); err == nil {
		t.Error("ForeignMarkers accepted namespace \"security\"")
	}
}
