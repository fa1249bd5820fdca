package unionfs

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
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

// ChooseDriver resolves DriverAuto and says why. Root gets kernel
// overlayfs unless the options need FUSE, the upper layer holds markers
// the kernel cannot read (only lowers can be converted, see shim.go), or
// the converted lowers exceed the kernel's limit. The upper is walked
// once; the lowers only when two shim layers per lower could exceed the
// limit (MountOverlay walks them anyway to build the shims).
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
	if ns == "user" && (r.RedirectDir == RedirectOn || r.RedirectDir == RedirectFollow) {
		return DriverFUSE, "kernel overlayfs with userxattr neither makes nor follows redirects"
	}
	if cfg.Upper != "" {
		if err := checkUpperNative(cfg.Upper, ns); err != nil {
			return DriverFUSE, err.Error()
		}
	}
	if 3*len(cfg.Lowers) > maxKernelLowers {
		if _, err := planOverlay(cfg.Lowers, ns); err != nil {
			return DriverFUSE, err.Error()
		}
	}
	return DriverOverlay, "root may mount kernel overlayfs; lowers with whiteouts it cannot read get shim layers"
}

// inUserNS reports whether this process runs in a user namespace other
// than the initial one.
func inUserNS() bool { return userns.RunningInUserNS() }

// xattrNamespace is the namespace of overlay xattrs a kernel mount made by
// this process reads: "user" (userxattr) inside a user namespace.
func xattrNamespace() string {
	if inUserNS() {
		return "user"
	}
	return "trusted"
}

// MountOverlay mounts kernel overlayfs for the request. A lower holding
// markers the kernel does not read is converted with shim layers around it
// (see shim.go); the lowers themselves are never modified. It fails with
// ErrForeignUpper when the upper holds such markers, and with
// ErrTooManyLowers when the converted list exceeds the kernel's limit.
func MountOverlay(r *MountRequest, mountpoint string) error {
	if os.Geteuid() != 0 && !inUserNS() {
		return ErrOverlayDenied
	}
	mnt, err := CheckMountpoint(mountpoint)
	if err != nil {
		return err
	}
	cfg := r.EffectiveConfig()
	if len(cfg.Lowers) == 0 {
		return ErrNoLowers
	}
	lowers := make([]string, len(cfg.Lowers))
	for i, l := range cfg.Lowers {
		p, _, err := checkDir("lowerdir", l)
		if err != nil {
			return err
		}
		lowers[i] = p
	}
	ns := xattrNamespace()
	var up, wk string
	if cfg.Upper != "" {
		var ust, wst *unix.Stat_t
		if up, ust, err = checkDir("upperdir", cfg.Upper); err != nil {
			return err
		}
		if wk, wst, err = checkDir("workdir", cfg.Work); err != nil {
			return err
		}
		if ust.Dev != wst.Dev {
			return &LayerError{Role: "workdir", Path: wk, Err: ErrCrossDevice}
		}
		if within(wk, up) || within(up, wk) {
			return &LayerError{Role: "workdir", Path: wk, Err: ErrNested}
		}
		if err := checkUpperNative(up, ns); err != nil {
			return err
		}
	}
	plan, err := planOverlay(lowers, ns)
	if err != nil {
		return err
	}
	kernelLowers, err := plan.build(context.Background(), mnt, ns)
	if err != nil {
		return err
	}
	redirect := r.RedirectDir
	if ns == "user" && redirect == RedirectOff {
		redirect = "" // userxattr refuses any redirect_dir but nofollow, and is "off" already
	}
	if err := mountOverlayFS(mnt, kernelLowers, up, wk, ns == "user", r.ReadOnly, redirect); err != nil {
		removeShims(mnt)
		return err
	}
	return nil
}

// EscapeOption escapes a path for a mount option value ("lowerdir=",
// "upperdir=", ...): a backslash before every ':', ',' and '\'. Both
// unionmount's -o (ParseMountOptions) and kernel overlayfs read it.
func EscapeOption(p string) string { return optionEscaper.Replace(p) }

var optionEscaper = strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
