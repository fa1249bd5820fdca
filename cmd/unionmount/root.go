package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lamina-dev/lamina/unionfs"
)

// version is set at build time with -ldflags "-X main.version=..." (make
// build sets what git describe says).
var version = "dev"

const longHelp = `unionmount presents read-only lower directories and an optional writable
upper directory as one tree, with the semantics of kernel overlayfs: the
upper hides what is below it, deletions leave whiteouts in the upper, and a
lower file is copied up the first time it is changed. Lower directories are
never modified.

It takes fuse-overlayfs's command line, so it can serve as containers/storage's
mount_program, as the helper behind "mount -t fuse.unionmount" and /etc/fstab
(through mount.fuse3), or by hand. It returns once the mount is ready and keeps
serving in the background; -f keeps it in the foreground.

Options (-o, comma-separated, may be repeated):
  lowerdir=TOP:...:BOTTOM   read-only layers, leftmost on top (required)
  upperdir=DIR              writable layer; without it the mount is read-only
  workdir=DIR               scratch dir on upperdir's filesystem (with upperdir)
  uidmapping=S:V:L[:S:V:L]  show stored uid S+i as V+i (FUSE driver)
  gidmapping=S:V:L[:S:V:L]  the same for groups
  squash_to_root            show every file as owned by root (FUSE driver)
  squash_to_uid=N           show every file as owned by uid N
  squash_to_gid=N           show every file as owned by gid N
  passthrough=on|off|auto   FUSE passthrough for open files (default auto)
  uring=on|off|auto         serve requests through per-CPU io_uring queues
                            (Linux 6.14+, when /sys/module/fuse/parameters/
                            enable_uring is Y; default auto; -d turns it off)
  dirahead=on|off           when a directory is listed, list the directories
                            it holds and look up their entries in the
                            background, so that a walk (find, tar, du) finds
                            them ready (default on)
  fileahead=on|off          when a directory's files are opened in order, read
                            the next ones into the page cache in the
                            background (default on)
  readdirplus=auto|on|off   attributes with listings: on gives every entry's,
                            saving a lookup per entry to readers that stat
                            what they list (ls -l, find, tar); auto (default)
                            gives them where a walk goes and where the
                            reader stats, and names alone to programs that
                            list a large directory for a few names (Python;
                            auto sees walks through dirahead, and is on
                            without it); off has the kernel look up each
                            entry itself
  acl, noacl                POSIX ACLs enforced and inherited from default
                            ACLs, as on kernel overlayfs (acl, the default),
                            or permissions from mode bits alone (noacl, FUSE
                            driver; kernel overlayfs always applies ACLs)
  redirect_dir=on|follow|off|nofollow
                            on: rename a directory that exists in a lower
                            layer by moving its (empty) upper copy and
                            recording where its lower copies are, as kernel
                            overlayfs does, instead of failing with EXDEV
                            (which makes mv copy the whole tree); kernel
                            overlayfs reads an upper made so as root
                            (trusted.overlay.redirect) unless mounted with
                            nofollow, but never one made rootless
                            (user.overlay.redirect): only lamina does. Not
                            for uppers later read as a layer diff (podman
                            commit, tar): those readers ignore redirects
                            off (default) and follow: make no redirects,
                            follow those the layers hold; nofollow: ignore
                            them
  fsync=0, volatile         do not fsync copied-up data (faster, less durable)
  timeout=SECONDS           kernel cache timeout (default 3600)
  driver=auto|fuse|overlay  as --driver, for fstab and mount -t
  ro                        mount read-only
Escape ':' and ',' in paths with a backslash.

In the background, the daemon's standard error (its errors, and a crash's
trace) goes to /run/lamina/unionmount-*.log ($XDG_RUNTIME_DIR/lamina when
not root), removed when the daemon ends with nothing written.

Drivers (--driver):
  auto     kernel overlayfs when this process may mount it (root, or a user
           namespace with userxattr) and the options allow it; else FUSE
  fuse     lamina's FUSE daemon
  overlay  kernel overlayfs

Unmount with "unionmount --unmount MNT", "fusermount3 -u MNT" or SIGTERM to
a foreground daemon.`

func execute(ctx context.Context, args []string) int {
	var (
		opts    []string
		fg      bool
		debug   bool
		driver  string
		unmount bool
	)
	cmd := &cobra.Command{
		Use:   "unionmount [flags] -o lowerdir=... [SOURCE] MOUNTPOINT",
		Short: "Mount a union of directories (a drop-in for fuse-overlayfs)",
		Long:  longHelp + "\n\nAccepted and ignored for compatibility: " + ignoredList(),
		Example: `  unionmount -o lowerdir=/l2:/l1,upperdir=/up,workdir=/work /mnt
  unionmount --driver=fuse -o lowerdir=/image/rootfs /mnt      # read-only
  mount -t fuse.unionmount unionmount /mnt -o lowerdir=/l,upperdir=/u,workdir=/w
  unionmount --unmount /mnt`,
		Args:          cobra.RangeArgs(1, 2),
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			mnt := args[len(args)-1]
			if unmount {
				return unionfs.Unmount(mnt)
			}
			d, err := unionfs.ParseDriver(driver)
			if err != nil {
				return err
			}
			level := slog.LevelInfo
			if debug {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return run(ctx, log, mountArgs{opts: opts, mnt: mnt, driver: d, debug: debug, foreground: fg})
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&opts, "options", "o", nil, "mount options, comma-separated (see above)")
	f.BoolVarP(&fg, "foreground", "f", false, "stay in the foreground and serve until unmounted")
	f.BoolVarP(&debug, "debug", "d", false, "log every FUSE request (implies -f)")
	f.StringVar(&driver, "driver", "auto", "auto, fuse or overlay")
	f.BoolVarP(&unmount, "unmount", "u", false, "unmount MOUNTPOINT and exit")
	// No -v: mount(8) passes it to helpers to mean verbose.
	f.Bool("version", false, "print the version and exit")
	// fuse-overlayfs's form, which podman info shows for a mount_program.
	cmd.SetVersionTemplate("unionmount: version {{.Version}}\n")
	cmd.SetArgs(args)
	cmd.SetContext(ctx)
	if err := cmd.Execute(); err != nil {
		// A daemon child's parent prints the error; its own standard
		// error is the log file, kept only for what the parent cannot say.
		if !signalReady(oneLine(err)) {
			fmt.Fprintf(os.Stderr, "unionmount: %s\n", oneLine(err))
		}
		return 1
	}
	return 0
}

func ignoredList() string {
	names := unionfs.IgnoredOptionNames()
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// oneLine keeps an error message to one line.
func oneLine(err error) string {
	var le *unionfs.LayerError
	msg := err.Error()
	if errors.As(err, &le) {
		msg = le.Error()
	}
	return strings.ReplaceAll(msg, "\n", " ")
}
