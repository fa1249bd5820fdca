package layer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/whiteout"
	"golang.org/x/sys/unix"
)

// entry is a fixture tar entry.
type entry struct {
	name, link, body string
	typ              byte
	mode             int64
	uid, gid         int
	xattrs           map[string]string
}

func mkTar(t testing.TB, ents ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// sandbox makes <tmp>/outside/ (with a canary) and <tmp>/layer/, the target.
func sandbox(t *testing.T) (layerDir, outside string) {
	base := t.TempDir()
	outside = filepath.Join(base, "outside")
	layerDir = filepath.Join(base, "layer")
	os.Mkdir(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "canary"), []byte("safe"), 0o644)
	os.Mkdir(layerDir, 0o755)
	return layerDir, outside
}

func unpack(t *testing.T, dir string, data []byte) (Stats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Unpack(ctx, bytes.NewReader(data), dir)
}

func TestUnpackBasics(t *testing.T) {
	dir, _ := sandbox(t)
	st, err := unpack(t, dir, mkTar(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "etc/", typ: tar.TypeDir, mode: 0o750, uid: 12, gid: 34},
		entry{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n", mode: 0o4755, uid: 5, gid: 6},
		entry{name: "etc/hard", typ: tar.TypeLink, link: "etc/passwd"},
		entry{name: "/bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
		entry{name: "fifo", typ: tar.TypeFifo, mode: 0o600},
		entry{name: "x", body: "xattr", xattrs: map[string]string{"user.test": "v", "trusted.overlay.opaque": "y"}},
		entry{name: "dup", body: "first"},
		entry{name: "dup", body: "second"},
	))
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 9 {
		t.Errorf("entries = %d, want 9", st.Entries)
	}
	var s unix.Stat_t
	unix.Lstat(filepath.Join(dir, "etc/passwd"), &s)
	if s.Mode&0o7777 != 0o4755 || (os.Geteuid() == 0 && (s.Uid != 5 || s.Gid != 6)) || s.Nlink != 2 {
		t.Errorf("etc/passwd: mode %o uid %d gid %d nlink %d", s.Mode, s.Uid, s.Gid, s.Nlink)
	}
	if s.Mtim.Sec != 1700000000 {
		t.Errorf("mtime %d", s.Mtim.Sec)
	}
	unix.Lstat(filepath.Join(dir, "etc"), &s)
	if s.Mode&0o777 != 0o750 || s.Mtim.Sec != 1700000000 {
		t.Errorf("etc: mode %o mtime %d", s.Mode, s.Mtim.Sec)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "bin/sh")); l != "/bin/busybox" {
		t.Errorf("symlink = %q", l)
	}
	if fi, _ := os.Lstat(filepath.Join(dir, "fifo")); fi == nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("fifo not made")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dup")); string(b) != "second" {
		t.Errorf("dup = %q", b)
	}
	buf := make([]byte, 16)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "x"), "user.test", buf); err == nil && string(buf[:n]) != "v" {
		t.Errorf("user.test = %q", buf[:n])
	}
	if _, err := unix.Lgetxattr(filepath.Join(dir, "x"), "trusted.overlay.opaque", buf); err == nil {
		t.Errorf("private xattr from the tar was kept")
	}
}

func TestUnpackWhiteouts(t *testing.T) {
	dir, _ := sandbox(t)
	st, err := unpack(t, dir, mkTar(t,
		entry{name: "a/.wh.gone", body: ""},
		entry{name: "b/.wh..wh..opq", body: ""},
		entry{name: "b/kept", body: "k"},
		entry{name: ".wh..wh.plnk", body: ""},
	))
	if err != nil {
		t.Fatal(err)
	}
	if st.Whiteouts != 1 || st.Opaques != 1 {
		t.Errorf("stats %+v", st)
	}
	if s, err := whiteout.Lookup(filepath.Join(dir, "a"), "gone", false, new(unix.Stat_t)); err != nil || s != whiteout.WhitedOut {
		t.Errorf("a/gone: %v %v", s, err)
	}
	info, err := whiteout.Inspect(filepath.Join(dir, "b"))
	if err != nil || !info.Opaque {
		t.Errorf("b not opaque: %+v %v", info, err)
	}
	for _, n := range []string{"a/.wh.gone", "b/.wh..wh..opq", ".wh..wh.plnk"} {
		if _, err := os.Lstat(filepath.Join(dir, n)); err == nil {
			t.Errorf("marker %s left in the layer", n)
		}
	}
}

func TestUnpackHostile(t *testing.T) {
	cases := []struct {
		name string
		ents []entry
		want error // nil: must succeed but stay inside
	}{
		{"dotdot", []entry{{name: "../outside/evil", body: "x"}}, oci.ErrUnsafePath},
		{"dotdot inside", []entry{{name: "a/../../outside/evil", body: "x"}}, oci.ErrUnsafePath},
		{"absolute", []entry{{name: "/outside-abs", body: "x"}}, nil},
		{"symlink parent", []entry{{name: "s", typ: tar.TypeSymlink, link: "../outside"}, {name: "s/evil", body: "x"}}, oci.ErrUnsafePath},
		{"symlink parent abs", []entry{{name: "s", typ: tar.TypeSymlink, link: "/"}, {name: "s/tmp/evil", body: "x"}}, oci.ErrUnsafePath},
		{"symlink parent inside", []entry{{name: "d/", typ: tar.TypeDir}, {name: "s", typ: tar.TypeSymlink, link: "d"}, {name: "s/f", body: "x"}}, oci.ErrUnsafePath},
		{"hardlink outside", []entry{{name: "h", typ: tar.TypeLink, link: "../outside/canary"}}, oci.ErrUnsafePath},
		{"hardlink absolute", []entry{{name: "h", typ: tar.TypeLink, link: "/etc/passwd"}}, oci.ErrMalformedLayer},
		{"hardlink via symlink", []entry{{name: "s", typ: tar.TypeSymlink, link: "../outside"}, {name: "h", typ: tar.TypeLink, link: "s/canary"}}, oci.ErrMalformedLayer},
		{"whiteout dot", []entry{{name: "a/.wh..", body: ""}}, oci.ErrMalformedLayer},
		{"whiteout dotdot", []entry{{name: "a/.wh...", body: ""}}, oci.ErrMalformedLayer},
		{"whiteout then file", []entry{{name: ".wh.f", body: ""}, {name: "f", body: "x"}}, oci.ErrMalformedLayer},
		{"file then whiteout", []entry{{name: "f", body: "x"}, {name: ".wh.f", body: ""}}, oci.ErrMalformedLayer},
		{"whiteout dir then child", []entry{{name: ".wh.d", body: ""}, {name: "d/f", body: "x"}}, oci.ErrMalformedLayer},
		{"child then whiteout dir", []entry{{name: "d/f", body: "x"}, {name: ".wh.d", body: ""}}, oci.ErrMalformedLayer},
		{"marker as dir", []entry{{name: ".wh.x/f", body: "x"}}, oci.ErrMalformedLayer},
		{"file as parent", []entry{{name: "f", body: "x"}, {name: "f/g", body: "y"}}, oci.ErrMalformedLayer},
		{"root not dir", []entry{{name: ".", body: "x"}}, oci.ErrMalformedLayer},
		{"long component", []entry{{name: strings.Repeat("a", 300), body: "x"}}, oci.ErrUnsafePath},
		{"file over symlink", []entry{{name: "s", typ: tar.TypeSymlink, link: "../outside/canary"}, {name: "s", body: "pwned"}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, outside := sandbox(t)
			_, err := unpack(t, dir, mkTar(t, c.ents...))
			if c.want == nil && err != nil {
				t.Fatalf("err = %v, want success", err)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("outside was written: %v", ents)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "canary")); string(b) != "safe" {
				t.Errorf("canary changed: %q", b)
			}
			if _, err := os.Lstat(filepath.Join(filepath.Dir(dir), "outside-abs")); err == nil {
				t.Errorf("absolute name escaped")
			}
		})
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"a", "/a/b", "../a", "a/../b", "./", "//", "a//b/./c", ".wh.x", "\x00", "a/.."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		p, err := CleanPath(name)
		if err != nil {
			if !errors.Is(err, oci.ErrUnsafePath) {
				t.Fatalf("error %v does not wrap ErrUnsafePath", err)
			}
			return
		}
		if p == "" {
			return
		}
		if !filepath.IsLocal(p) || filepath.Clean(p) != p || strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
			t.Fatalf("CleanPath(%q) = %q, not a clean local path", name, p)
		}
		for _, c := range strings.Split(p, "/") {
			if c == ".." || c == "." || c == "" {
				t.Fatalf("CleanPath(%q) = %q has component %q", name, p, c)
			}
		}
		if q, err := CleanPath(p); err != nil || q != p {
			t.Fatalf("not idempotent: %q -> %q, %v", p, q, err)
		}
	})
}
