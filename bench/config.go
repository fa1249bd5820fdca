package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mounter presents lower layers (topmost first) and an upper directory at a
// mount point. Mount returns once the mount is usable; Unmount undoes it.
// Both wrap the underlying cause; neither leaves a process of its own behind
// except the filesystem daemon of a FUSE mount.
type Mounter interface {
	Name() string
	Mount(ctx context.Context, lowers []string, upper, work, mnt string) error
	Unmount(ctx context.Context, mnt string) error
}

// Checker is an optional upgrade of a Mounter: Check says why it cannot run on
// this machine. An error wrapping ErrNotInstalled leaves the configuration out
// of the run; any other error reports every cell as n/a.
type Checker interface {
	Check() error
}

// ErrNotInstalled is wrapped by Check errors of optional peers that are not
// installed.
var ErrNotInstalled = errors.New("not installed")

// Configuration names, in report order.
const (
	NameExt4              = "ext4"
	NameKernelOverlay     = "kernel-overlay"
	NameLaminaFUSE        = "lamina-fuse"
	NameLaminaPassthrough = "lamina-passthrough"
	// NameLaminaNoSync is lamina-fuse with fsync=0: copy-up does not fsync
	// the copied data before publishing it. lamina (like kernel overlayfs)
	// fsyncs by default; fuse-overlayfs 1.10 never does (its copy-up is
	// sendfile, fsetxattr, renameat, with no fsync).
	NameLaminaNoSync = "lamina-fuse-nofsync"
	// NameLaminaDevFUSE is lamina-passthrough served through /dev/fuse
	// (uring=off), to show what FUSE over io_uring changes where the
	// kernel offers it (where it does not, it equals lamina-passthrough).
	NameLaminaDevFUSE = "lamina-passthrough-devfuse"
	NameFuseOverlayfs = "fuse-overlayfs"
	NameUnionfsFuse   = "unionfs-fuse"
)

// Baseline is the configuration every ratio is taken to.
const Baseline = NameKernelOverlay

const (
	mountTimeout   = 30 * time.Second
	unmountTimeout = 20 * time.Second
)

// Mounters returns every configuration in report order. unionmount is the
// path of lamina's unionmount binary.
func Mounters(unionmount string) []Mounter {
	return []Mounter{
		ext4Dir{},
		kernelOverlay{},
		laminaMounter(NameLaminaFUSE, unionmount, "passthrough=off"),
		laminaMounter(NameLaminaPassthrough, unionmount, "passthrough=on"),
		laminaMounter(NameLaminaNoSync, unionmount, "passthrough=off,fsync=0"),
		laminaMounter(NameLaminaDevFUSE, unionmount, "passthrough=on,uring=off"),
		&fuseProgram{
			name:     NameFuseOverlayfs,
			prog:     "fuse-overlayfs",
			optional: true,
			args: func(lowers []string, upper, work, mnt string) []string {
				return []string{"-o", overlayOpts(lowers, upper, work), mnt}
			},
		},
		&fuseProgram{
			name:     NameUnionfsFuse,
			prog:     "unionfs",
			optional: true,
			args: func(lowers []string, upper, _, mnt string) []string {
				// Branches are "DIR=RW:DIR=RO:...", the writable one first;
				// unionfs-fuse has no work directory.
				branches := []string{upper + "=RW"}
				for _, l := range lowers {
					branches = append(branches, l+"=RO")
				}
				return []string{"-o", "cow,allow_other", strings.Join(branches, ":"), mnt}
			},
		},
	}
}

// laminaMounter runs unionmount with the FUSE driver and extra options.
func laminaMounter(name, unionmount, extra string) *fuseProgram {
	return &fuseProgram{
		name: name,
		prog: unionmount,
		args: func(lowers []string, upper, work, mnt string) []string {
			return []string{"--driver", "fuse", "-o", overlayOpts(lowers, upper, work) + "," + extra, mnt}
		},
		unmountArgs: func(mnt string) []string { return []string{"--unmount", mnt} },
	}
}

// overlayOpts is the option string kernel overlayfs and fuse-overlayfs share.
func overlayOpts(lowers []string, upper, work string) string {
	return "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + upper + ",workdir=" + work
}

// ext4Dir is the no-union reference: the layers copied into one directory on
// the same filesystem, bind-mounted at the mount point so that it unmounts
// like the others.
type ext4Dir struct{}

func (ext4Dir) Name() string { return NameExt4 }

func (ext4Dir) Mount(ctx context.Context, lowers []string, upper, _, mnt string) error {
	for i := len(lowers) - 1; i >= 0; i-- {
		if err := runQuiet(ctx, "cp", "-a", lowers[i]+"/.", upper+"/"); err != nil {
			return fmt.Errorf("copy layer %s: %w", lowers[i], err)
		}
	}
	if err := unix.Mount(upper, mnt, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s: %w", upper, err)
	}
	return nil
}

func (ext4Dir) Unmount(_ context.Context, mnt string) error {
	return unmountSyscall(mnt)
}

// kernelOverlay is mount -t overlay with the kernel's default options.
type kernelOverlay struct{}

func (kernelOverlay) Name() string { return NameKernelOverlay }

func (kernelOverlay) Check() error {
	b, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return fmt.Errorf("read /proc/filesystems: %w", err)
	}
	if !strings.Contains(string(b), "\toverlay\n") {
		// The module may just not be loaded yet.
		_ = exec.Command("modprobe", "overlay").Run()
	}
	return nil
}

func (kernelOverlay) Mount(_ context.Context, lowers []string, upper, work, mnt string) error {
	if err := unix.Mount("overlay", mnt, "overlay", 0, overlayOpts(lowers, upper, work)); err != nil {
		return fmt.Errorf("mount overlay: %w", err)
	}
	return nil
}

func (kernelOverlay) Unmount(_ context.Context, mnt string) error {
	return unmountSyscall(mnt)
}

func unmountSyscall(mnt string) error {
	if err := unix.Unmount(mnt, 0); err != nil {
		if ferr := forceUnmount(mnt); ferr != nil {
			return fmt.Errorf("unmount %s: %w", mnt, errors.Join(err, ferr))
		}
	}
	return nil
}

// fuseProgram is a FUSE filesystem started as a program that daemonizes and
// returns once the mount is ready (the fuse-overlayfs convention).
type fuseProgram struct {
	name     string
	prog     string
	optional bool
	args     func(lowers []string, upper, work, mnt string) []string
	// unmountArgs, when set, is the program's own unmount command line;
	// fusermount3 -u follows when it fails.
	unmountArgs func(mnt string) []string
}

var _ Checker = (*fuseProgram)(nil)

func (p *fuseProgram) Name() string { return p.name }

func (p *fuseProgram) Check() error {
	if _, err := exec.LookPath(p.prog); err != nil {
		if p.optional {
			return fmt.Errorf("look up %s: %w", p.prog, ErrNotInstalled)
		}
		return fmt.Errorf("look up %s: %w", p.prog, err)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("open /dev/fuse: %w", err)
	}
	return nil
}

func (p *fuseProgram) Mount(ctx context.Context, lowers []string, upper, work, mnt string) error {
	ctx, cancel := context.WithTimeout(ctx, mountTimeout)
	defer cancel()
	if err := runDaemonizing(ctx, p.prog, p.args(lowers, upper, work, mnt)...); err != nil {
		return err
	}
	if _, ok, err := mountedAt(mnt); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("mount %s: %s returned but nothing is mounted", mnt, filepath.Base(p.prog))
	}
	return nil
}

func (p *fuseProgram) Unmount(ctx context.Context, mnt string) error {
	ctx, cancel := context.WithTimeout(ctx, unmountTimeout)
	defer cancel()
	var errs []error
	if p.unmountArgs != nil {
		err := runQuiet(ctx, p.prog, p.unmountArgs(mnt)...)
		if err == nil {
			if _, ok, _ := mountedAt(mnt); !ok {
				return nil
			}
		}
		errs = append(errs, err)
	}
	err := runQuiet(ctx, "fusermount3", "-u", mnt)
	if err == nil {
		return nil
	}
	errs = append(errs, err)
	if ferr := forceUnmount(mnt); ferr != nil {
		return fmt.Errorf("unmount %s: %w", mnt, errors.Join(append(errs, ferr)...))
	}
	return nil
}

// runDaemonizing runs a program that forks a daemon and exits. Its output goes
// to a temporary file, not a pipe: a daemon that keeps the pipe open would
// make Wait block until the filesystem is unmounted. It runs in its own
// process group so that a terminal's ^C reaches this program, which then
// unmounts, rather than killing FUSE daemons under live mounts.
func runDaemonizing(ctx context.Context, prog string, args ...string) error {
	out, err := os.CreateTemp("", "benchfs-mount-*.log")
	if err != nil {
		return fmt.Errorf("create mount log: %w", err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = nil
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no return within %s, killed (a mount program must daemonize once mounted)", mountTimeout)
		}
		return fmt.Errorf("run %s: %w%s", filepath.Base(prog), err, lastLines(string(msg), 2))
	}
	return nil
}

// runQuiet runs a short command and folds its output into the error.
func runQuiet(ctx context.Context, prog string, args ...string) error {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("run %s: %w%s", filepath.Base(prog), err, lastLines(string(out), 2))
	}
	return nil
}

// lastLines returns ": " and the last n non-empty lines of s joined by "; ",
// or "" when s is blank.
func lastLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		return ""
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return ": " + strings.Join(keep, "; ")
}
