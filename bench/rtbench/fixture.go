package rtbench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lamina-dev/lamina/runtime"
)

// bundleOCIVersion is the newest runtime-spec version that runc 1.1 and
// crun 1.8 accept in config.json.
const bundleOCIVersion = "1.0.2"

// makeBundle writes the benchmark bundle into dir: rootfs/bin/busybox
// (copied from busybox), rootfs/bin/true linking to it, and config.json.
func makeBundle(dir, busybox string) error {
	bin := filepath.Join(dir, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return fmt.Errorf("make bundle: %w", err)
	}
	if err := copyFile(busybox, filepath.Join(bin, "busybox"), 0o755); err != nil {
		return fmt.Errorf("make bundle: %w", err)
	}
	if err := os.Symlink("busybox", filepath.Join(bin, "true")); err != nil {
		return fmt.Errorf("make bundle: %w", err)
	}
	spec := runtime.DefaultSpec(os.Geteuid() != 0)
	spec.Version = bundleOCIVersion
	spec.Root.Path = "rootfs"
	spec.Process.Terminal = false
	spec.Process.Args = []string{"/bin/true"}
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		return fmt.Errorf("make bundle: %w", err)
	}
	return nil
}

func copyFile(src, dst string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
