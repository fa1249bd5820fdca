package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/unionfs"
)

// MountOptions says how to mount an image.
type MountOptions struct {
	// Mountpoint is where to mount; empty means containers/<id>/rootfs.
	Mountpoint string
	// Upper is a writable directory to keep; empty means a fresh one in
	// the store (its work directory is Upper+".work").
	Upper string
	// Driver is "auto", "fuse" or "overlay" (default "auto").
	Driver string
	// Name is recorded as the container's name.
	Name string
	// Unionmount is the unionmount binary; empty means the one beside the
	// running executable, else the one in PATH.
	Unionmount string
}

// Mount union-mounts image ref from st and records the mount as a
// container, so that garbage collection keeps its layers. On error nothing
// is left mounted or recorded.
func Mount(ctx context.Context, st *store.Store, ref string, o MountOptions) (*store.Container, error) {
	unlock, err := st.LockShared()
	if err != nil {
		return nil, err
	}
	defer unlock()
	im, err := st.Resolve(ref)
	if err != nil {
		return nil, err
	}
	dirs, ids, err := st.LayerDirs(im.Descriptor.Digest)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("mount %s: the image has no layers", im.Ref)
	}
	c := &store.Container{Ref: im.Ref, Manifest: im.Descriptor.Digest, Layers: ids, Name: o.Name}
	if o.Upper != "" {
		if c.Upper, err = filepath.Abs(o.Upper); err != nil {
			return nil, err
		}
		c.Work = c.Upper + ".work"
		for _, d := range []string{c.Upper, c.Work} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, fmt.Errorf("mount %s: %w", im.Ref, err)
			}
		}
	}
	if err := st.CreateContainer(c, o.Upper == ""); err != nil {
		return nil, err
	}
	c.Mountpoint = o.Mountpoint
	if c.Mountpoint == "" {
		c.Mountpoint = filepath.Join(st.ContainerDir(c.ID), "rootfs")
		if err := os.Mkdir(c.Mountpoint, 0o755); err != nil {
			st.RemoveContainer(c.ID)
			return nil, fmt.Errorf("mount %s: %w", im.Ref, err)
		}
	}
	if c.Mountpoint, err = filepath.Abs(c.Mountpoint); err == nil {
		err = st.SaveContainer(c)
	}
	if err == nil {
		err = mountUnion(ctx, o, dirs, c)
	}
	if err != nil {
		st.RemoveContainer(c.ID)
		return nil, fmt.Errorf("mount %s: %w", im.Ref, err)
	}
	return c, nil
}

// mountUnion runs unionmount over the layer directories (top first).
func mountUnion(ctx context.Context, o MountOptions, dirs []string, c *store.Container) error {
	driver := o.Driver
	if driver == "" {
		driver = "auto"
	}
	lowers := make([]string, len(dirs))
	for i, d := range dirs {
		lowers[i] = unionfs.EscapeOption(d)
	}
	opts := "lowerdir=" + strings.Join(lowers, ":") + ",upperdir=" + unionfs.EscapeOption(c.Upper) + ",workdir=" + unionfs.EscapeOption(c.Work)
	bin := o.Unionmount
	if bin == "" {
		bin = UnionmountPath()
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--driver", driver, "-o", opts, c.Mountpoint)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("unionmount: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Unmount unmounts mountpoint and removes the store records of containers
// mounted there (with the upper the store made for them).
func Unmount(st *store.Store, mountpoint string) error {
	mnt, err := filepath.Abs(mountpoint)
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
}

// UnionmountPath finds the unionmount binary beside this executable, else
// in PATH.
func UnionmountPath() string {
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
