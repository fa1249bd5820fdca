package unionfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/unionfs/uring"
	"github.com/lamina-dev/lamina/whiteout"
)

// ErrNoFUSE says /dev/fuse is missing or unusable.
var ErrNoFUSE = errors.New("/dev/fuse is not available (load the fuse module, or use --driver=overlay)")

// Server is a mounted FUSE union.
type Server struct {
	*fuse.Server
	Mountpoint string
	// URing serves the requests when they go through io_uring queues;
	// nil when they go through /dev/fuse.
	URing *uring.Transport

	u    *Union
	real string // the mountpoint as the mount table spells it (no symlinks)
	dev  string // the mount's MAJ:MIN in the mount table; "" if unknown
}

// Mount serves the union at mountpoint with FUSE and returns once the
// kernel has the mount. Serving goes on in the background until Unmount.
// It sets the process umask to 0: modes arrive from the kernel already
// masked, or with ACLs on, are masked by umasker (umask.go).
func (u *Union) Mount(mountpoint string) (*Server, error) {
	mnt, err := CheckMountpoint(mountpoint)
	if err != nil {
		return nil, err
	}
	if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoFUSE, err)
	}
	ring := u.opts.uring != URingOff && !u.opts.debug && uring.Available()
	if u.opts.uring == URingOn && !ring {
		if u.opts.debug {
			return nil, fmt.Errorf("mount %s: uring=on: debug output needs /dev/fuse", mnt)
		}
		return nil, fmt.Errorf("mount %s: uring=on: %w", mnt, uring.ErrUnavailable)
	}
	s, err := u.mount(mnt, ring)
	if errors.Is(err, errURingStart) && u.opts.uring == URingAuto {
		s, err = u.mount(mnt, false)
	}
	return s, err
}

// errURingStart marks a mount undone because its io_uring queues could
// not be set up.
var errURingStart = errors.New("io_uring queues")

// mount mounts and serves, through io_uring queues when ring.
func (u *Union) mount(mnt string, ring bool) (*Server, error) {
	root, ino, err := u.root()
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(mnt) // before the mount hides the path
	if err != nil {
		return nil, &LayerError{Role: "mountpoint", Path: mnt, Err: err}
	}
	unix.Umask(0)
	t := u.opts.timeout
	mo := fuse.MountOptions{
		AllowOther:           u.opts.allowOther && os.Geteuid() == 0,
		FsName:               u.opts.fsName,
		Name:                 "lamina",
		DirectMount:          true,
		MaxWrite:             1 << 20,
		MaxReadAhead:         maxReadAhead,
		MaxBackground:        64,
		EnableSymlinkCaching: true,
		// Let the kernel send plain READDIR to a reader that does not
		// stat what it lists (find -name, du -s of names): READDIRPLUS
		// costs a lookup per entry. HANDLE_KILLPRIV_V2 leaves clearing
		// setuid, setgid and capabilities on writes and truncates to the
		// daemon (killpriv.go); without it the kernel asks the daemon for
		// security.capability before every write, a round trip that made
		// small appends 15 times slower than on ext4, passthrough or not.
		ExtraCapabilities:        fuse.CAP_READDIRPLUS_AUTO | fuse.CAP_HANDLE_KILLPRIV_V2,
		DisableReadDirPlus:       u.opts.plus == ReaddirPlusOff,
		ExplicitDataCacheControl: true,
		Debug:                    u.opts.debug,
		Options:                  []string{"default_permissions"},
		// The kernel enforces POSIX ACLs (read through GETXATTR and
		// cached) and leaves the umask to the daemon (umask.go).
		EnableAcl: u.opts.acl,
	}
	if u.upper == "" {
		mo.Options = append(mo.Options, "ro")
	}
	if ring {
		mo.ExtraCapabilities |= fuse.CAP_OVER_IO_URING
	}
	if u.opts.acl {
		mo.ExtraCapabilities |= fuse.CAP_DONT_MASK
	}
	opts := &fs.Options{
		MountOptions:    mo,
		EntryTimeout:    &t,
		AttrTimeout:     &t,
		NegativeTimeout: &t,
		NullPermissions: true,
		RootStableAttr:  &fs.StableAttr{Mode: unix.S_IFDIR, Ino: ino},
	}
	var raw fuse.RawFileSystem = newNameLocks(fs.NewNodeFS(root, opts))
	if u.opts.acl {
		raw = newUmasker(raw)
	}
	raw = newDirless(raw)
	srv, err := fuse.NewServer(raw, mnt, &opts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mnt, err)
	}
	go srv.Serve()
	s := &Server{Server: srv, Mountpoint: mnt, u: u, real: real}
	if ring {
		// NewServer has mounted and answered INIT. From here the kernel
		// holds every request back until each CPU's queue has an entry,
		// so the queues start before anything touches the mount.
		s.URing, err = uring.Start(srv, raw, uring.WithMaxWrite(mo.MaxWrite))
		if err != nil {
			_ = srv.Unmount()
			return nil, fmt.Errorf("mount %s: %w: %w", mnt, errURingStart, err)
		}
	}
	if err := srv.WaitMount(); err != nil {
		_ = srv.Unmount()
		return nil, fmt.Errorf("mount %s: %w", mnt, err)
	}
	// Best effort: without root, reads go in smaller requests.
	_ = raiseReadahead(mnt)
	s.dev, _ = topMountDev(real)
	return s, nil
}

// Stop unmounts the union unless the mount table shows another mount on
// top of its mountpoint: a daemon whose mount was removed from under it
// (umount, fusermount3 -u) and that stops late must not take away a mount
// made there since. A mount it could not find in the table when it
// mounted, it unmounts.
func (s *Server) Stop() error {
	if s.dev != "" {
		if dev, err := topMountDev(s.real); err == nil && dev != s.dev {
			return nil
		}
	}
	return s.Server.Unmount()
}

// topMountDev is the MAJ:MIN of the mount on top of mountpoint (the last
// one the mount table lists there), or "" if nothing is mounted there.
func topMountDev(mountpoint string) (string, error) {
	dev := ""
	err := scanMountinfo(func(fields []string) bool {
		if unescapeMountinfo(fields[4]) == mountpoint {
			dev = fields[2]
		}
		return false
	})
	return dev, err
}

// Wait waits until the mount is gone and every request has been answered,
// and drops the directories still queued for read-ahead.
func (s *Server) Wait() {
	s.Server.Wait()
	if s.URing != nil {
		s.URing.Wait()
	}
	s.u.ahead.drain()
}

// root builds the root node: the upper root plus every lower root.
func (u *Union) root() (*node, uint64, error) {
	n := &node{u: u, lower: 0, upper: u.upper != ""}
	var st unix.Stat_t
	if err := unix.Stat(u.lowers[0], &st); err != nil {
		return nil, 0, fmt.Errorf("stat lowerdir: %w", err)
	}
	ino := u.ino.ino(1, &st, "")
	if n.upper {
		info, err := whiteout.Inspect(u.upper)
		if err != nil {
			return nil, 0, fmt.Errorf("inspect upperdir: %w", err)
		}
		n.upperXwh = info.XWhiteouts
	}
	for i, l := range u.lowers {
		info, err := whiteout.Inspect(l)
		if err != nil {
			return nil, 0, fmt.Errorf("inspect lowerdir: %w", err)
		}
		n.dirs = append(n.dirs, lowerDir{idx: i, xwh: info.XWhiteouts})
	}
	return n, ino, nil
}

// CheckMountpoint resolves mountpoint and checks that it is a directory
// and not already a mount.
func CheckMountpoint(mountpoint string) (string, error) {
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return "", &LayerError{Role: "mountpoint", Path: mountpoint, Err: err}
	}
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, abs, 0, unix.STATX_TYPE, &stx); err != nil {
		return "", &LayerError{Role: "mountpoint", Path: mountpoint, Err: err}
	}
	if stx.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", &LayerError{Role: "mountpoint", Path: mountpoint, Err: ErrNotDir}
	}
	if stx.Attributes_mask&unix.STATX_ATTR_MOUNT_ROOT != 0 && stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0 {
		return "", &LayerError{Role: "mountpoint", Path: mountpoint, Err: ErrMountpointInUse}
	}
	return abs, nil
}

// Unmount detaches a union mounted by either driver. It tries umount(2)
// and falls back to fusermount3 for an unprivileged FUSE mount.
func Unmount(mountpoint string) error {
	abs, err := filepath.Abs(mountpoint)
	if err != nil {
		return fmt.Errorf("unmount %s: %w", mountpoint, err)
	}
	err = unix.Unmount(abs, 0)
	if err == nil {
		return removeShims(abs) // kernel-driver mounts leave shim layers
	}
	if err == unix.EPERM {
		if ferr := fusermountUnmount(abs); ferr == nil {
			return nil
		}
	}
	if err == unix.EINVAL {
		return fmt.Errorf("unmount %s: not a mountpoint", abs)
	}
	return fmt.Errorf("unmount %s: %w", abs, err)
}

// fusermountUnmount asks fusermount3 (setuid root) to unmount.
func fusermountUnmount(mnt string) error {
	out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 -u: %w: %s", err, out)
	}
	return nil
}
