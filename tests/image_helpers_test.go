package tests

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"
)

// buildLamina builds ./cmd/lamina into a fresh directory next to a link to
// the unionmount subject, so that "lamina mount" finds unionmount beside
// itself as it does in bin/. It returns the path of lamina.
func buildLamina(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "lamina")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/lamina")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build ./cmd/lamina: %v\n%s", err, out)
	}
	if err := os.Symlink(subject, filepath.Join(dir, "unionmount")); err != nil {
		t.Fatal(err)
	}
	return bin
}

// imgEntry is one tar entry of a test layer. typ is a tar type flag; for a
// hard link, link names the target entry.
type imgEntry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
	xattrs   map[string]string
}

func dirE(name string, mode int64, uid, gid int) imgEntry {
	return imgEntry{name: name, typ: tar.TypeDir, mode: mode, uid: uid, gid: gid}
}
func fileE(name string, mode int64, uid, gid int, body string) imgEntry {
	return imgEntry{name: name, typ: tar.TypeReg, mode: mode, uid: uid, gid: gid, body: body}
}
func symE(name, target string) imgEntry {
	return imgEntry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func whE(name string) imgEntry { return fileE(name, 0o644, 0, 0, "") }

// layerTar writes entries as an uncompressed layer tar.
func layerTar(t *testing.T, entries []imgEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, ModTime: time.Unix(1700000000, 0), Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if len(e.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := io.WriteString(tw, e.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// startMemRegistry serves go-containerregistry's in-memory registry on a
// loopback port for the test's lifetime and returns host:port.
func startMemRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// pushImage builds an image from layers (bottom first, gzip-compressed)
// with cfg and pushes it to ref.
func pushImage(t *testing.T, ref string, cfg v1.Config, layers ...[]imgEntry) v1.Image {
	t.Helper()
	img := empty.Image
	for _, l := range layers {
		raw := layerTar(t, l)
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(raw)), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, layer); err != nil {
			t.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", runtime.GOARCH, cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return img
}

// node is one path of a flattened tree, as the test expects to see it.
type node struct {
	typ      byte // tar.TypeReg, TypeDir, TypeSymlink, TypeFifo
	mode     int64
	uid, gid int
	body     string // content, or symlink target
	xattrs   map[string]string
}

// flatten applies layers (bottom first) the way image-spec layer.md says,
// independently of lamina's unpacker: whiteouts and opaque markers of a
// layer remove paths of the layers below only; a later non-directory
// replaces a path and everything under it; a directory over a directory only
// changes its metadata; a hard link has its target's content and metadata.
func flatten(layers ...[]imgEntry) map[string]node {
	tree := map[string]node{}
	removeTree := func(p string, keepSelf bool) {
		for k := range tree {
			if (!keepSelf && k == p) || strings.HasPrefix(k, p+"/") || (p == "" && k != "") {
				delete(tree, k)
			}
		}
	}
	for _, layer := range layers {
		for _, e := range layer {
			n := strings.TrimSuffix(e.name, "/")
			dir, base := path.Split(n)
			dir = strings.TrimSuffix(dir, "/")
			switch {
			case base == ".wh..wh..opq":
				removeTree(dir, true)
			case strings.HasPrefix(base, ".wh."):
				removeTree(path.Join(dir, strings.TrimPrefix(base, ".wh.")), false)
			}
		}
		for _, e := range layer {
			n := strings.TrimSuffix(e.name, "/")
			if strings.HasPrefix(path.Base(n), ".wh.") {
				continue
			}
			nd := node{typ: e.typ, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, body: e.body, xattrs: e.xattrs}
			switch e.typ {
			case tar.TypeSymlink:
				nd.body, nd.mode = e.link, 0o777
			case tar.TypeLink:
				nd = tree[strings.TrimSuffix(e.link, "/")]
			}
			if old, ok := tree[n]; !ok || old.typ != tar.TypeDir || nd.typ != tar.TypeDir {
				removeTree(n, false)
			}
			tree[n] = nd
		}
	}
	return tree
}

// readTree describes every path under root (not root itself) as a node.
// Only user.* xattrs are read: the others belong to the union.
func readTree(t *testing.T, root string) map[string]node {
	t.Helper()
	tree := map[string]node{}
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		nd := node{mode: int64(st.Mode & 0o7777), uid: int(st.Uid), gid: int(st.Gid)}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			nd.typ = tar.TypeReg
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			nd.body = string(b)
		case unix.S_IFDIR:
			nd.typ = tar.TypeDir
		case unix.S_IFLNK:
			nd.typ = tar.TypeSymlink
			if nd.body, err = os.Readlink(p); err != nil {
				return err
			}
		case unix.S_IFIFO:
			nd.typ = tar.TypeFifo
		default:
			nd.typ = '?'
			nd.body = "mode " + strings.TrimSpace(os.FileMode(st.Mode).String())
		}
		if nd.typ == tar.TypeReg || nd.typ == tar.TypeDir {
			nd.xattrs = userXattrs(t, p)
		}
		tree[filepath.ToSlash(rel)] = nd
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return tree
}

func userXattrs(t *testing.T, p string) map[string]string {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n == 0 {
		return nil
	}
	var m map[string]string
	for _, k := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !strings.HasPrefix(k, "user.") {
			continue
		}
		v := make([]byte, 4096)
		vn, err := unix.Lgetxattr(p, k, v)
		if err != nil {
			t.Errorf("getxattr %s %s: %v", p, k, err)
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = string(v[:vn])
	}
	return m
}

// diffTrees reports every difference between want and got.
func diffTrees(t *testing.T, want, got map[string]node) {
	t.Helper()
	var names []string
	for k := range want {
		names = append(names, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		w, wok := want[k]
		g, gok := got[k]
		switch {
		case !gok:
			t.Errorf("%s: missing from the mount", k)
		case !wok:
			t.Errorf("%s: in the mount (%c %q) but not in the flattened layers", k, g.typ, g.body)
		case w.typ != g.typ || w.mode != g.mode || w.uid != g.uid || w.gid != g.gid || w.body != g.body || !sameXattrs(w.xattrs, g.xattrs):
			t.Errorf("%s:\n  got  %c %04o %d:%d %q %v\n  want %c %04o %d:%d %q %v", k,
				g.typ, g.mode, g.uid, g.gid, g.body, g.xattrs, w.typ, w.mode, w.uid, w.gid, w.body, w.xattrs)
		}
	}
}

func sameXattrs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
