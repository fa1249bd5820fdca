// Command demoimage builds lamina's small demo image from a static busybox
// and pushes it to a registry. scripts/build-demo-image.sh runs it:
//
//	go run ./oci/internal/demoimage [-busybox /bin/busybox] [-insecure] REF
//
// The image has two gzip layers in OCI media types:
//
//   - layer 1: bin/busybox with the applet links sh, ls, cat, echo, uname,
//     id, hostname and ps; etc/passwd and etc/group with root; the usual
//     empty mount points; and etc/issue;
//   - layer 2: etc/motd, and the whiteout etc/.wh.issue, which deletes
//     etc/issue from layer 1, so a mounted demo shows a whiteout at work.
//
// Its config runs /bin/sh -c with a short script. Every timestamp is fixed,
// so the same busybox always gives the same image digest.
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

var applets = []string{"sh", "ls", "cat", "echo", "uname", "id", "hostname", "ps"}

const motd = `Welcome to the lamina demo image.
Layer 1 holds busybox and /etc/issue; layer 2 adds this file and
deletes /etc/issue with a whiteout (etc/.wh.issue).
`

func main() {
	busybox := flag.String("busybox", "/bin/busybox", "a statically linked busybox (Debian: busybox-static)")
	insecure := flag.Bool("insecure", false, "allow plain HTTP to a non-loopback registry")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: demoimage [-busybox PATH] [-insecure] REF\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *busybox, *insecure); err != nil {
		fmt.Fprintf(os.Stderr, "demoimage: %v\n", err)
		os.Exit(1)
	}
}

func run(ref, busybox string, insecure bool) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return fmt.Errorf("read busybox: %w (install busybox-static)", err)
	}
	if err := checkStatic(busybox); err != nil {
		return err
	}
	var nopts []name.Option
	if insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(ref, nopts...)
	if err != nil {
		return fmt.Errorf("parse ref: %w", err)
	}

	l1 := []entry{
		dir("bin/", 0o755), dir("dev/", 0o755), dir("etc/", 0o755), dir("proc/", 0o555),
		dir("root/", 0o700), dir("sys/", 0o555), dir("tmp/", 0o1777), dir("var/", 0o755),
		file("bin/busybox", 0o755, bb),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n")),
		file("etc/group", 0o644, []byte("root:x:0:\n")),
		file("etc/hostname", 0o644, []byte("lamina-demo\n")),
		file("etc/issue", 0o644, []byte("lamina demo, layer 1: layer 2 deletes this file\n")),
	}
	for _, a := range applets {
		l1 = append(l1, entry{hdr: tar.Header{Name: "bin/" + a, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777}})
	}
	l2 := []entry{
		dir("etc/", 0o755),
		file("etc/motd", 0o644, []byte(motd)),
		file("etc/.wh.issue", 0o644, nil),
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range [][]entry{l1, l2} {
		raw, err := tarOf(l)
		if err != nil {
			return err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(raw)), nil
		}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
		if err != nil {
			return fmt.Errorf("make layer: %w", err)
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
			Created: v1.Time{Time: epoch}, CreatedBy: "lamina demoimage",
		}}); err != nil {
			return fmt.Errorf("append layer: %w", err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: epoch}
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config = v1.Config{
		Cmd:        []string{"/bin/sh", "-c", "cat /etc/motd; echo; uname -sm; id; echo; ls -l /etc"},
		Env:        []string{"PATH=/bin"},
		WorkingDir: "/",
		Labels:     map[string]string{"org.opencontainers.image.title": "lamina demo"},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}

	if err := remote.Write(r, img, remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return fmt.Errorf("push %s: %w", r.Name(), err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("pushed %s@%s\n", r.Name(), d)
	return nil
}

// checkStatic refuses a dynamically linked busybox: the image carries no
// libc for it.
func checkStatic(p string) error {
	f, err := elf.Open(p)
	if err != nil {
		return fmt.Errorf("busybox %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("busybox %s is dynamically linked; install busybox-static", p)
		}
	}
	return nil
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func dir(n string, mode int64) entry {
	return entry{hdr: tar.Header{Name: n, Typeflag: tar.TypeDir, Mode: mode}}
}

func file(n string, mode int64, b []byte) entry {
	return entry{hdr: tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(b))}, body: b}
}

func tarOf(es []entry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := e.hdr
		h.ModTime, h.Uname, h.Gname, h.Format = epoch, "root", "root", tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, fmt.Errorf("write tar: %w", err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, fmt.Errorf("write tar: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write tar: %w", err)
	}
	return buf.Bytes(), nil
}
