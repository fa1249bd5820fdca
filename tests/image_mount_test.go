package tests

import (
	"archive/tar"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/lamina-dev/lamina/oci/store"
)

// mountImageLayers is the image TestImageMount pulls: three layers with
// whiteouts, an opaque directory, replaced files and directories, a hard
// link, a fifo, special mode bits, owners and a user xattr.
var mountImageLayers = [][]imgEntry{
	{
		dirE("bin/", 0o755, 0, 0),
		fileE("bin/tool", 0o755, 0, 0, "tool v1\n"),
		symE("bin/sh", "tool"),
		dirE("etc/", 0o755, 0, 0),
		fileE("etc/passwd", 0o644, 0, 0, "root:x:0:0:root:/root:/bin/sh\n"),
		fileE("etc/shadow", 0o640, 0, 42, "root:*:19000::::::\n"),
		dirE("home/", 0o755, 0, 0),
		dirE("home/user/", 0o700, 1000, 1000),
		fileE("home/user/notes", 0o600, 1000, 1000, "private\n"),
		dirE("old/", 0o755, 0, 0),
		fileE("old/a", 0o644, 0, 0, "a"),
		dirE("old/sub/", 0o755, 0, 0),
		fileE("old/sub/b", 0o644, 0, 0, "b"),
		fileE("gone", 0o644, 0, 0, "bye"),
		dirE("gonedir/", 0o755, 0, 0),
		fileE("gonedir/x", 0o644, 0, 0, "x"),
		fileE("swap", 0o644, 0, 0, "a file, then a directory"),
		fileE("setuid", 0o4755, 0, 0, "suid"),
		dirE("tmp/", 0o1777, 0, 0),
		dirE("data/", 0o755, 0, 0),
		fileE("data/hard", 0o640, 7, 8, "hard linked"),
		{name: "data/link", typ: tar.TypeLink, link: "data/hard"},
		{name: "data/fifo", typ: tar.TypeFifo, mode: 0o600},
		{name: "data/attr", typ: tar.TypeReg, mode: 0o644, body: "with xattr", xattrs: map[string]string{"user.test.attr": "value"}},
	},
	{
		whE(".wh.gone"),
		whE(".wh.gonedir"),
		dirE("old/", 0o750, 0, 0),
		whE("old/.wh..wh..opq"),
		fileE("old/new", 0o644, 0, 0, "n"),
		fileE("bin/tool", 0o700, 0, 0, "tool v2\n"),
		fileE("etc/motd", 0o644, 0, 0, "welcome\n"),
		// Real tools write every parent of a changed path; an implicit
		// parent would shadow the lower directory's owner and mode (see
		// the oci package doc, "Unpack").
		dirE("home/user/", 0o700, 1000, 1000),
		whE("home/user/.wh.notes"),
		dirE("swap/", 0o711, 5, 5),
		fileE("swap/in", 0o644, 5, 5, "inside"),
	},
	{
		fileE("gone", 0o600, 0, 0, "back again"),
		whE("etc/.wh.shadow"),
		symE("etc/localtime", "/usr/share/zoneinfo/UTC"),
	},
}

// TestImageMount gets an image into a store in every way lamina can, mounts
// it with "lamina mount" for each driver, compares the merged tree with an
// independent flattening of the layers, writes through the mount and
// unmounts with "lamina umount". The ways: "lamina pull" from a registry;
// "lamina load" of a docker save tarball and of an OCI layout, both written
// by go-containerregistry; and the round trip "lamina save --format
// oci-archive -o - | lamina load" from a pulled store.
func TestImageMount(t *testing.T) {
	requireRoot(t)
	watchdog(t, 4*time.Minute)
	lamina := buildLamina(t)
	host := startMemRegistry(t)
	ref := host + "/lamina/mounttest:v1"
	img := pushImage(t, ref, v1.Config{Cmd: []string{"/bin/sh"}}, mountImageLayers...)
	want := flatten(mountImageLayers...)

	pull := func(t *testing.T, root string) {
		if r := runCmd(t, 30*time.Second, lamina, "pull", "--root", root, ref); r.code != 0 {
			t.Fatalf("lamina pull: exit %d (%v)\n%s%s", r.code, r.err, r.stdout, r.stderr)
		}
	}
	load := func(t *testing.T, root, input string) {
		if r := runCmd(t, 30*time.Second, lamina, "load", "--root", root, "-i", input); r.code != 0 {
			t.Fatalf("lamina load: exit %d (%v)\n%s%s", r.code, r.err, r.stdout, r.stderr)
		}
	}
	for _, src := range []struct {
		name string
		put  func(t *testing.T, root string)
	}{
		{"pull", pull},
		{"load docker-archive", func(t *testing.T, root string) {
			p := filepath.Join(t.TempDir(), "image.tar")
			tag, err := name.NewTag(ref)
			if err != nil {
				t.Fatal(err)
			}
			if err := tarball.WriteToFile(p, tag, img); err != nil {
				t.Fatal(err)
			}
			load(t, root, p)
		}},
		{"load oci layout", func(t *testing.T, root string) {
			dir := filepath.Join(t.TempDir(), "layout")
			lp, err := layout.Write(dir, empty.Index)
			if err != nil {
				t.Fatal(err)
			}
			if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
				t.Fatal(err)
			}
			load(t, root, dir)
		}},
		{"save and load oci-archive", func(t *testing.T, root string) {
			other := t.TempDir()
			pull(t, other)
			pipe := fmt.Sprintf("%q save --root %q --format oci-archive -o - %q | %q load --root %q", lamina, other, ref, lamina, root)
			if r := runCmd(t, 60*time.Second, "/bin/bash", "-o", "pipefail", "-c", pipe); r.code != 0 {
				t.Fatalf("%s: exit %d (%v)\n%s%s", pipe, r.code, r.err, r.stdout, r.stderr)
			}
		}},
	} {
		t.Run(src.name, func(t *testing.T) {
			root := t.TempDir()
			src.put(t, root)
			checkImageMount(t, lamina, root, ref, want)
		})
	}
}

// checkImageMount mounts ref from the store at root with each driver and
// checks the merged tree against want, writes through it and unmounts.
func checkImageMount(t *testing.T, lamina, root, ref string, want map[string]node) {
	st, err := store.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	im, err := st.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	layerDirs, _, err := st.LayerDirs(im.Descriptor.Digest)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		driver string
		fstype string // prefix of the mountinfo fstype
		need   func(*testing.T)
	}{
		{"fuse", "fuse", requireFUSE},
		{"overlay", "overlay", requireOverlay},
	} {
		t.Run(tc.driver, func(t *testing.T) {
			tc.need(t)
			mnt := filepath.Join(t.TempDir(), "mnt")
			mustMkdirAll(t, mnt)
			r := runCmd(t, 30*time.Second, lamina, "mount", "--root", root, "--driver", tc.driver, ref, mnt)
			if fstype, ok := mountFSType(mnt); ok {
				track(t, mnt, strings.HasPrefix(fstype, "fuse"))
			}
			if r.code != 0 {
				t.Fatalf("lamina mount: exit %d (%v)\n%s%s", r.code, r.err, r.stdout, r.stderr)
			}
			fstype, ok := mountFSType(mnt)
			if !ok || !strings.HasPrefix(fstype, tc.fstype) {
				t.Fatalf("after lamina mount, %s has fstype %q (mounted %v), want %s*", mnt, fstype, ok, tc.fstype)
			}

			diffTrees(t, want, readTree(t, mnt))

			// Write through the mount: a new file and a change to a lower file.
			if err := os.WriteFile(filepath.Join(mnt, "tmp/written"), []byte("through the mount"), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(mnt, "bin/tool"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("appended\n")
			f.Close()
			if b, _ := os.ReadFile(filepath.Join(mnt, "tmp/written")); string(b) != "through the mount" {
				t.Errorf("read back tmp/written = %q", b)
			}
			if b, _ := os.ReadFile(filepath.Join(mnt, "bin/tool")); string(b) != "tool v2\nappended\n" {
				t.Errorf("read back bin/tool = %q", b)
			}
			cs, err := st.Containers()
			if err != nil || len(cs) != 1 || cs[0].Mountpoint != mnt {
				t.Fatalf("container records = %+v, %v", cs, err)
			}
			upper := cs[0].Upper
			if b, err := os.ReadFile(filepath.Join(upper, "tmp/written")); err != nil || string(b) != "through the mount" {
				t.Errorf("upper %s: tmp/written = %q, %v", upper, b, err)
			}
			// Layer directories are never modified.
			for _, d := range layerDirs {
				if _, err := os.Lstat(filepath.Join(d, "tmp/written")); err == nil {
					t.Errorf("layer %s got tmp/written", d)
				}
			}
			if b, _ := os.ReadFile(filepath.Join(layerDirs[1], "bin/tool")); string(b) != "tool v2\n" {
				t.Errorf("lower bin/tool changed: %q", b)
			}

			r = runCmd(t, 30*time.Second, lamina, "umount", "--root", root, mnt)
			if r.code != 0 {
				t.Fatalf("lamina umount: exit %d (%v)\n%s%s", r.code, r.err, r.stdout, r.stderr)
			}
			if fstype, ok := mountFSType(mnt); ok {
				t.Fatalf("after lamina umount, %s is still mounted (%s)", mnt, fstype)
			}
			waitDaemonGone(t, mnt)
			untrack(mnt)
			if cs, err := st.Containers(); err != nil || len(cs) != 0 {
				t.Errorf("container records after umount = %+v, %v", cs, err)
			}
			if _, err := os.Stat(upper); !os.IsNotExist(err) {
				t.Errorf("fresh upper %s left after umount: %v", upper, err)
			}
		})
	}
}
