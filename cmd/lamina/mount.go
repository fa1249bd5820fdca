package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/unionfs"
	"github.com/spf13/cobra"
)

func init() { register(newMountCmd); register(newUmountCmd) }

func newMountCmd() *cobra.Command {
	var root, upper, driver string
	cmd := &cobra.Command{
		Use:   "mount [flags] REF MNT",
		Short: "Union-mount an image's layers (with a fresh upper unless --upper is given)",
		Example: `  lamina mount busybox /mnt/bb
  lamina mount --upper /srv/up --driver fuse busybox /mnt/bb`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			unlock, err := st.LockShared()
			if err != nil {
				return err
			}
			defer unlock()
			im, err := st.Resolve(args[0])
			if err != nil {
				return err
			}
			dirs, ids, err := st.LayerDirs(im.Descriptor.Digest)
			if err != nil {
				return err
			}
			if len(dirs) == 0 {
				return fmt.Errorf("mount %s: the image has no layers", im.Ref)
			}
			mnt, err := filepath.Abs(args[1])
			if err != nil {
				return err
			}
			c := &store.Container{Ref: im.Ref, Manifest: im.Descriptor.Digest, Layers: ids, Mountpoint: mnt}
			if upper != "" {
				c.Upper, _ = filepath.Abs(upper)
				c.Work = c.Upper + ".work"
				if err := os.MkdirAll(c.Work, 0o700); err != nil {
					return err
				}
			}
			if err := st.CreateContainer(c, upper == ""); err != nil {
				return err
			}
			opts := "lowerdir=" + strings.Join(escapeAll(dirs), ":") + ",upperdir=" + escape(c.Upper) + ",workdir=" + escape(c.Work)
			run := exec.CommandContext(cmd.Context(), unionmountPath(), "--driver", driver, "-o", opts, mnt)
			run.Stdout, run.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := run.Run(); err != nil {
				st.RemoveContainer(c.ID)
				return fmt.Errorf("mount %s: unionmount: %w", im.Ref, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s mounted on %s (container %s)\n", im.Ref, mnt, c.ID)
			return nil
		},
	}
	addStoreRootFlag(cmd, &root)
	cmd.Flags().StringVar(&upper, "upper", "", "writable upper directory (default: a fresh one in the store; its work dir is UPPER.work)")
	cmd.Flags().StringVar(&driver, "driver", "auto", "auto, fuse or overlay")
	return cmd
}

func newUmountCmd() *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:     "umount [flags] MNT",
		Short:   "Unmount an image mounted by lamina mount (a fresh upper is discarded)",
		Example: "  lamina umount /mnt/bb",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.Open(root)
			if err != nil {
				return err
			}
			mnt, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if err := unionfs.Unmount(mnt); err != nil {
				return err
			}
			cs, err := st.Containers()
			if err != nil {
				return err
			}
			for _, c := range cs {
				if c.Mountpoint == mnt {
					if err := st.RemoveContainer(c.ID); err != nil {
						return err
					}
				}
			}
			return nil
		},
	}
	addStoreRootFlag(cmd, &root)
	return cmd
}

// unionmountPath finds the unionmount binary next to this one, else in PATH.
func unionmountPath() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "unionmount")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("unionmount"); err == nil {
		return p
	}
	return "unionmount"
}

// escape escapes ':' and ',' in a mount option path, as unionmount expects.
func escape(p string) string {
	return strings.NewReplacer(`\`, `\\`, ":", `\:`, ",", `\,`).Replace(p)
}

func escapeAll(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = escape(p)
	}
	return out
}
