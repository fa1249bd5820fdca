package bench

import (
	"archive/tar"
	"bufio"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Fixture is everything the workloads read, prepared once per run in the
// scratch directory.
type Fixture struct {
	// Lowers are the lower layers, topmost first: data, usr/lib, usr/share,
	// the rest of the tree.
	Lowers []string
	// Layers describes each lower for the report, in the same order.
	Layers []string
	// Tree says where the tree came from.
	Tree string
	// UsrEntries counts /usr and every entry below it; UsrBytes adds up the
	// sizes of its regular files.
	UsrEntries int
	UsrBytes   int64
	// BigFile is the path of the large file relative to the mount point.
	BigFile string
	BigSize int64
	// SmallFiles are the copy-up files relative to the mount point, each
	// SmallSize bytes.
	SmallFiles []string
	SmallSize  int64
	// Tarball holds TarFiles regular files of TarFileSize bytes under
	// TarDir/.
	Tarball     string
	TarDir      string
	TarFiles    int
	TarFileSize int64
	// Program is run as chroot MNT Program...; ProgramText describes it.
	Program     []string
	ProgramText string
	// PythonVersion is the version of python3 in the tree, when it has one.
	PythonVersion string
}

const (
	smallDirs      = 10
	smallPerDir    = 20
	smallSize      = 4096
	tarDirs        = 50
	tarPerDir      = 100
	tarFileSize    = 4096
	fillerPerLayer = 4000
	pythonImports  = "import json, email, http.client, sqlite3"
	chrootPath     = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// prepareFixture builds the layers and the tarball under o.scratch.
func prepareFixture(ctx context.Context, o *options) (*Fixture, error) {
	fx := &Fixture{}
	root, err := ensureTree(ctx, o, fx)
	if err != nil {
		return nil, err
	}
	o.logf("counting %s/usr", root)
	if fx.UsrEntries, fx.UsrBytes, err = countTree(filepath.Join(root, "usr")); err != nil {
		return nil, err
	}

	layers := filepath.Join(o.scratch, "layers")
	data := filepath.Join(layers, "data")
	lib := filepath.Join(layers, "lib")
	share := filepath.Join(layers, "share")
	base := filepath.Join(layers, "base")
	o.logf("copying the tree into %s and splitting it into 3 layers", layers)
	if err := os.MkdirAll(base, 0o755); err != nil {
		return nil, fmt.Errorf("create layer: %w", err)
	}
	if err := runQuiet(ctx, "cp", "-a", root+"/.", base+"/"); err != nil {
		return nil, fmt.Errorf("copy tree: %w", err)
	}
	if err := splitOut(base, lib, "usr/lib"); err != nil {
		return nil, err
	}
	if err := splitOut(base, share, "usr/share"); err != nil {
		return nil, err
	}

	o.logf("generating %s of data and %d small files in %s", humanBytes(o.bigSize), smallDirs*smallPerDir, data)
	fx.BigFile, fx.BigSize = "big.bin", o.bigSize
	if err := writeRandomFile(filepath.Join(data, fx.BigFile), o.bigSize, 1); err != nil {
		return nil, err
	}
	fx.SmallSize = smallSize
	for d := range smallDirs {
		for f := range smallPerDir {
			rel := fmt.Sprintf("small/d%02d/f%02d", d, f)
			if err := writeRandomFile(filepath.Join(data, rel), smallSize, uint64(100+d*smallPerDir+f)); err != nil {
				return nil, err
			}
			fx.SmallFiles = append(fx.SmallFiles, rel)
		}
	}

	fx.Tarball = filepath.Join(o.scratch, "untar.tar")
	fx.TarDir, fx.TarFiles, fx.TarFileSize = "untar", tarDirs*tarPerDir, tarFileSize
	o.logf("writing %s (%s files of %s)", fx.Tarball, thousands(int64(fx.TarFiles)), humanBytes(fx.TarFileSize))
	if err := writeTarball(fx.Tarball, fx.TarDir); err != nil {
		return nil, err
	}

	fx.Lowers = []string{data, lib, share, base}
	for i, l := range fx.Lowers {
		n, _, err := countTree(l)
		if err != nil {
			return nil, err
		}
		what := []string{
			fmt.Sprintf("generated: %s (%s) and %s", fx.BigFile, humanBytes(fx.BigSize), "small/ (200 files of 4 KiB in 10 directories)"),
			"usr/lib of the tree",
			"usr/share of the tree",
			"the rest of the tree (usr/bin, usr/sbin, etc, var, ...)",
		}[i]
		pos := ""
		switch i {
		case 0:
			pos = " (top)"
		case len(fx.Lowers) - 1:
			pos = " (bottom)"
		}
		fx.Layers = append(fx.Layers, fmt.Sprintf("lower %d%s: %s; %s entries", i+1, pos, what, thousands(int64(n))))
	}
	unix.Sync()
	return fx, nil
}

// ensureTree returns the root of the tree: the cached debootstrap rootfs,
// built when missing, or a busybox tree in scratch when that cannot be had.
func ensureTree(ctx context.Context, o *options, fx *Fixture) (string, error) {
	why := "--tree busybox was asked for"
	if o.tree != "busybox" {
		root, err := ensureDebootstrap(ctx, o)
		if err == nil {
			fx.Tree = fmt.Sprintf("Debian bookworm minbase + python3 (debootstrap, mirror %s), cached at %s", o.mirror, root)
			fx.Program = []string{"python3", "-c", pythonImports}
			fx.ProgramText = "chroot MNT python3 -c '" + pythonImports + "'"
			if out, err := exec.CommandContext(ctx, "chroot", root, "python3", "--version").Output(); err == nil {
				fx.PythonVersion = strings.TrimSpace(string(out))
			}
			return root, nil
		}
		if ctx.Err() != nil {
			return "", err
		}
		why = err.Error()
		o.logf("FALLING BACK to a busybox tree: %v", err)
	}
	root := filepath.Join(o.scratch, "busybox-root")
	if err := buildBusyboxTree(root); err != nil {
		return "", fmt.Errorf("build busybox tree (debootstrap tree unavailable: %s): %w", why, err)
	}
	fx.Tree = fmt.Sprintf("FALLBACK busybox-static tree padded with %d generated files in each of usr/lib and usr/share (debootstrap tree unavailable: %s)", fillerPerLayer, why)
	fx.Program = []string{"/bin/sh", "-c", ":"}
	fx.ProgramText = "chroot MNT /bin/sh -c : (busybox; no python3 in the fallback tree)"
	return root, nil
}

// ensureDebootstrap returns o.cache, building it with debootstrap first when
// it holds no complete tree. The tree is built next to the cache and renamed
// into place, so a cache directory that exists is complete.
func ensureDebootstrap(ctx context.Context, o *options) (string, error) {
	if _, err := os.Lstat(filepath.Join(o.cache, "usr/bin/python3")); err == nil {
		return o.cache, nil
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return "", fmt.Errorf("find debootstrap: %w (apt-get install debootstrap)", err)
	}
	partial := o.cache + ".partial"
	logPath := o.cache + ".log"
	if err := os.MkdirAll(filepath.Dir(o.cache), 0o755); err != nil {
		return "", fmt.Errorf("create cache directory: %w", err)
	}
	if err := removeUnmounted(partial); err != nil {
		return "", err
	}
	o.logf("building %s with debootstrap from %s (about 1-3 minutes, once; log %s)", o.cache, o.mirror, logPath)
	logf, err := os.Create(logPath)
	if err != nil {
		return "", fmt.Errorf("create debootstrap log: %w", err)
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include=python3", "bookworm", partial, o.mirror)
	cmd.Stdout, cmd.Stderr = logf, logf
	runErr := cmd.Run()
	// debootstrap mounts /proc and /sys in the target and may leave them
	// behind when it fails.
	if err := unmountUnder(partial); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		tail, _ := os.ReadFile(logPath)
		_ = removeUnmounted(partial)
		return "", fmt.Errorf("run debootstrap: %w%s", runErr, lastLines(string(tail), 3))
	}
	debs, _ := filepath.Glob(filepath.Join(partial, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		_ = os.Remove(d)
	}
	if _, err := os.Lstat(filepath.Join(partial, "usr/bin/python3")); err != nil {
		return "", fmt.Errorf("check debootstrap tree: %w", err)
	}
	if err := os.Rename(partial, o.cache); err != nil {
		return "", fmt.Errorf("move debootstrap tree into the cache: %w", err)
	}
	return o.cache, nil
}

// buildBusyboxTree makes a tree with a static busybox, its applet links and
// filler files so that /usr has a realistic number of entries.
func buildBusyboxTree(root string) error {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("find busybox: %w (apt-get install busybox-static)", err)
	}
	if err := checkStatic(bb); err != nil {
		return err
	}
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "tmp", "usr/lib", "usr/share"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := runQuiet(context.Background(), "cp", bb, filepath.Join(root, "bin/busybox")); err != nil {
		return err
	}
	list, err := exec.Command(bb, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("list busybox applets: %w", err)
	}
	for _, rel := range strings.Fields(string(list)) {
		if rel == "bin/busybox" {
			continue
		}
		link := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return fmt.Errorf("create applet directory: %w", err)
		}
		target, _ := filepath.Rel(filepath.Dir("/"+rel), "/bin/busybox")
		if err := os.Symlink(target, link); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("link applet %s: %w", rel, err)
		}
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, dir := range []string{"usr/lib/filler", "usr/share/filler"} {
		for i := range fillerPerLayer {
			rel := fmt.Sprintf("%s/d%02d/f%04d", dir, i/100, i)
			size := int64(rng.IntN(32 * 1024))
			if err := writeRandomFile(filepath.Join(root, rel), size, uint64(i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkStatic fails unless path is an ELF file without a program interpreter.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("check %s: dynamically linked (install busybox-static)", path)
		}
	}
	return nil
}

// splitOut moves base/rel into layer/rel, recreating rel's parent
// directories in layer with base's mode, owner and times.
func splitOut(base, layer, rel string) error {
	parent := filepath.Dir(rel)
	var parents []string
	for p := parent; p != "."; p = filepath.Dir(p) {
		parents = append([]string{p}, parents...)
	}
	if err := os.MkdirAll(layer, 0o755); err != nil {
		return fmt.Errorf("create layer: %w", err)
	}
	for _, p := range parents {
		if err := os.Mkdir(filepath.Join(layer, p), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create layer directory: %w", err)
		}
	}
	if err := os.Rename(filepath.Join(base, rel), filepath.Join(layer, rel)); err != nil {
		return fmt.Errorf("move %s into its layer: %w", rel, err)
	}
	for _, p := range parents {
		if err := copyDirMeta(filepath.Join(base, p), filepath.Join(layer, p)); err != nil {
			return err
		}
	}
	return nil
}

func copyDirMeta(from, to string) error {
	var st unix.Stat_t
	if err := unix.Lstat(from, &st); err != nil {
		return fmt.Errorf("stat %s: %w", from, err)
	}
	if err := unix.Chmod(to, st.Mode&0o7777); err != nil {
		return fmt.Errorf("chmod %s: %w", to, err)
	}
	if err := unix.Lchown(to, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", to, err)
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, to, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times of %s: %w", to, err)
	}
	return nil
}

// countTree counts dir and every entry below it, and adds up the sizes of
// the regular files.
func countTree(dir string) (entries int, bytes int64, err error) {
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		entries++
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			bytes += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("count %s: %w", dir, err)
	}
	return entries, bytes, nil
}

// writeRandomFile writes size pseudo-random bytes (seeded by seed, so runs
// are repeatable) to path, creating its parents.
func writeRandomFile(path string, size int64, seed uint64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create directory for %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rng := rand.NewChaCha8(s)
	buf := make([]byte, min(size, 1<<20))
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		_, _ = rng.Read(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		left -= n
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

// writeTarball writes tarDirs directories of tarPerDir files of tarFileSize
// pseudo-random bytes under dir/.
func writeTarball(path, dir string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create tarball: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	tw := tar.NewWriter(bw)
	mtime := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.NewChaCha8([32]byte{42})
	buf := make([]byte, tarFileSize)
	hdr := func(h *tar.Header) error {
		h.ModTime, h.Uname, h.Gname, h.Format = mtime, "root", "root", tar.FormatUSTAR
		return tw.WriteHeader(h)
	}
	werr := hdr(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755})
	for d := 0; d < tarDirs && werr == nil; d++ {
		sub := fmt.Sprintf("%s/d%02d", dir, d)
		werr = hdr(&tar.Header{Name: sub + "/", Typeflag: tar.TypeDir, Mode: 0o755})
		for i := 0; i < tarPerDir && werr == nil; i++ {
			werr = hdr(&tar.Header{Name: fmt.Sprintf("%s/f%03d", sub, i), Typeflag: tar.TypeReg, Mode: 0o644, Size: tarFileSize})
			if werr == nil {
				_, _ = rng.Read(buf)
				_, werr = tw.Write(buf)
			}
		}
	}
	if werr == nil {
		werr = tw.Close()
	}
	if werr == nil {
		werr = bw.Flush()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return fmt.Errorf("write tarball: %w", werr)
	}
	return nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// DebianTree returns the cached debootstrap tree the filesystem benchmark
// reads (WithCache, WithMirror and WithProgress apply), building it once
// when it is missing. The unpack benchmark (benchunpack) shares it.
func DebianTree(ctx context.Context, opts ...Option) (string, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	if err := o.validate(); err != nil {
		return "", err
	}
	return ensureDebootstrap(ctx, &o)
}
