package unionfs

import (
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/whiteout"
)

// Driver names how a union is mounted.
type Driver string

const (
	DriverAuto    Driver = "auto"    // overlay when possible, else FUSE
	DriverFUSE    Driver = "fuse"    // lamina's FUSE daemon
	DriverOverlay Driver = "overlay" // kernel overlayfs
)

// ParseDriver checks a --driver value.
func ParseDriver(s string) (Driver, error) {
	switch d := Driver(s); d {
	case DriverAuto, DriverFUSE, DriverOverlay:
		return d, nil
	}
	return "", fmt.Errorf("parse driver %q: want auto, fuse or overlay", s)
}

// EffectiveConfig is the layer configuration to serve: with "ro" the upper
// becomes the top lower, read-only.
func (r *MountRequest) EffectiveConfig() Config {
	if !r.ReadOnly || r.Config.Upper == "" {
		return r.Config
	}
	return Config{Lowers: append([]string{r.Config.Upper}, r.Config.Lowers...)}
}

// ChooseDriver resolves DriverAuto and says why.
func ChooseDriver(d Driver, r *MountRequest) (Driver, string) {
	if d != DriverAuto {
		return d, "asked for"
	}
	if len(r.FUSEOnly) > 0 {
		return DriverFUSE, "options need FUSE: " + strings.Join(r.FUSEOnly, ", ")
	}
	if os.Geteuid() != 0 {
		return DriverFUSE, "kernel overlayfs needs root or a user namespace"
	}
	cfg := r.EffectiveConfig()
	ns := xattrNamespace()
	for _, l := range append([]string{cfg.Upper}, cfg.Lowers...) {
		if l == "" {
			continue
		}
		m, err := whiteout.ForeignMarkers(l, ns)
		if err != nil {
			return DriverFUSE, fmt.Sprintf("scan %s: %v", l, err)
		}
		if len(m) > 0 {
			return DriverFUSE, fmt.Sprintf("%s holds whiteouts kernel overlayfs cannot read (%s)", l, m[0].Raw)
		}
	}
	return DriverOverlay, "root may mount kernel overlayfs"
}

// inUserNS reports whether this process runs in a user namespace other
// than the initial one.
func inUserNS() bool {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return !(len(f) == 3 && f[0] == "0" && f[1] == "0" && f[2] == "4294967295")
}

// xattrNamespace is the namespace of overlay xattrs a kernel mount made by
// this process reads: "user" (userxattr) inside a user namespace.
func xattrNamespace() string {
	if inUserNS() {
		return "user"
	}
	return "trusted"
}

// MountOverlay mounts kernel overlayfs for the request. Layers must hold
// only whiteout formats the kernel reads (see ChooseDriver).
func MountOverlay(r *MountRequest, mountpoint string) error {
	mnt, err := CheckMountpoint(mountpoint)
	if err != nil {
		return err
	}
	cfg := r.EffectiveConfig()
	if len(cfg.Lowers) == 0 {
		return ErrNoLowers
	}
	var data []string
	lowers := make([]string, len(cfg.Lowers))
	for i, l := range cfg.Lowers {
		p, _, err := checkDir("lowerdir", l)
		if err != nil {
			return err
		}
		lowers[i] = escapeOverlay(p)
	}
	data = append(data, "lowerdir="+strings.Join(lowers, ":"))
	if cfg.Upper != "" {
		up, ust, err := checkDir("upperdir", cfg.Upper)
		if err != nil {
			return err
		}
		wk, wst, err := checkDir("workdir", cfg.Work)
		if err != nil {
			return err
		}
		if ust.Dev != wst.Dev {
			return &LayerError{Role: "workdir", Path: wk, Err: ErrCrossDevice}
		}
		if within(wk, up) || within(up, wk) {
			return &LayerError{Role: "workdir", Path: wk, Err: ErrNested}
		}
		data = append(data, "upperdir="+escapeOverlay(up), "workdir="+escapeOverlay(wk))
	}
	if xattrNamespace() == "user" {
		data = append(data, "userxattr")
	}
	var flags uintptr
	if r.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("overlay", mnt, "overlay", flags, strings.Join(data, ",")); err != nil {
		return fmt.Errorf("mount overlay on %s: %w", mnt, err)
	}
	return nil
}

// escapeOverlay escapes the separators of overlayfs mount data.
func escapeOverlay(p string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`).Replace(p)
}
