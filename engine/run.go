package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/lamina-dev/lamina/oci"
	"github.com/lamina-dev/lamina/oci/pull"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
	"github.com/lamina-dev/lamina/unionfs"
	ispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// RunOptions are docker run's settings for one container.
type RunOptions struct {
	Ref        string
	Cmd        []string  // nil: the image's
	Entrypoint *[]string // nil: the image's
	Env        []string  // NAME=VALUE, over the image's
	Workdir    string
	User       string
	Hostname   string // default: the container's name
	Name       string // default: the first 12 hex digits of its store ID
	Memory     int64  // bytes; 0 for no limit
	CPUs       float64
	PidsLimit  int64
	ReadOnly   bool
	Network    string // "host" (default) or "none"
	Volumes    []Volume
	Driver     string // union driver: auto, fuse or overlay
	// Pull holds the options for pulling the image when it is missing.
	Pull []pull.Option

	// Terminal gives the container a pty (process.terminal); Start
	// receives its master, see Running.Console. Stdin, Stdout and Stderr
	// are then not used.
	Terminal bool
	// ConsoleSize is the terminal's initial size; nil leaves the kernel's
	// default (0x0) until the caller resizes the master.
	ConsoleSize *specs.Box

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Log sends the container's stdout and stderr to its log file,
	// containers/<id>/container.log (LogPath), instead of Stdout and
	// Stderr, and gives it no stdin: for lamina run -d.
	Log        bool
	Unionmount string // see MountOptions
}

// ErrNoContainer is returned for a name that names no container.
var ErrNoContainer = errors.New("no such container")

// Running is a started container. The process that started it holds the
// container's waiter lock (see waiter.go) until Finish.
type Running struct {
	Name   string
	Record *store.Container
	st     *store.Store
	rt     *runtime.Runtime
	ctr    *runtime.Container
	waiter *os.File
	// console is the pty master with RunOptions.Terminal, else nil.
	console *os.File
}

// Start pulls the image if the store lacks it, mounts it, builds the
// bundle and starts the container. On error nothing is left: no mount,
// record or runtime state.
func Start(ctx context.Context, st *store.Store, rt *runtime.Runtime, o RunOptions) (*Running, error) {
	if _, err := st.Resolve(o.Ref); errors.Is(err, oci.ErrNotFound) {
		if _, err := pull.Image(ctx, st, o.Ref, o.Pull...); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if o.Name != "" {
		// A stopped container keeps its record (and name) until rm; the
		// runtime's own claim on the name (its state directory) settles
		// two runs racing for a free one.
		_, ferr := Find(st, o.Name)
		if _, err := rt.State(o.Name); err == nil || ferr == nil {
			return nil, fmt.Errorf("run %s: a container named %q exists (lamina rm it first): %w", o.Ref, o.Name, runtime.ErrExist)
		}
	}
	c, err := Mount(ctx, st, o.Ref, MountOptions{Driver: o.Driver, Name: o.Name, Unionmount: o.Unionmount})
	if err != nil {
		return nil, err
	}
	r := &Running{Name: c.Name, Record: c, st: st, rt: rt}
	if r.waiter, err = lockWaiter(st, c.ID); err != nil {
		r.unmount(true)
		return nil, fmt.Errorf("run %s: %w", o.Ref, err)
	}
	if r.Name == "" {
		r.Name = c.ID[:12]
		c.Name = r.Name
		if err := st.SaveContainer(c); err != nil {
			r.unmount(true)
			return nil, fmt.Errorf("run %s: %w", o.Ref, err)
		}
	}
	if err := r.create(ctx, &o); err != nil {
		r.unmount(true)
		return nil, fmt.Errorf("run %s: %w", o.Ref, err)
	}
	return r, nil
}

// create writes the bundle and creates and starts the runtime container.
func (r *Running) create(ctx context.Context, o *RunOptions) error {
	spec := runtime.DefaultSpec(runtime.Rootless())
	spec.Root.Path = r.Record.Mountpoint
	img, err := imageConfig(r.st, r.Record)
	if err != nil {
		return err
	}
	var conv []oci.ConvertOption
	if o.Entrypoint != nil {
		conv = append(conv, oci.WithEntrypoint(*o.Entrypoint))
	}
	if o.Cmd != nil {
		conv = append(conv, oci.WithCmd(o.Cmd))
	}
	if len(o.Env) > 0 {
		conv = append(conv, oci.WithEnv(o.Env))
	}
	if o.User != "" {
		conv = append(conv, oci.WithUser(o.User))
	}
	if o.Workdir != "" {
		conv = append(conv, oci.WithWorkingDir(o.Workdir))
	}
	if err := oci.ApplyImageConfig(spec, img, r.Record.Mountpoint, conv...); err != nil {
		return err
	}
	if err := applyOptions(spec, o, r.Name); err != nil {
		return err
	}
	r.Record.Command = spec.Process.Args
	if err := r.st.SaveContainer(r.Record); err != nil {
		return err
	}
	bundle := filepath.Join(r.st.ContainerDir(r.Record.ID), "bundle")
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	stdin, stdout, stderr := o.Stdin, o.Stdout, o.Stderr
	if o.Log {
		// An *os.File: init inherits the fd, so the container writes
		// the file itself and nothing has to copy its output.
		f, err := os.OpenFile(LogPath(r.st, r.Record), os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("open container log: %w", err)
		}
		defer f.Close()
		stdin, stdout, stderr = nil, f, f
	}
	opts := []runtime.CreateOption{runtime.WithStdio(stdin, stdout, stderr)}
	var host *net.UnixConn
	if o.Terminal {
		h, ctrSock, err := runtime.ConsolePair()
		if err != nil {
			return err
		}
		defer h.Close()
		defer ctrSock.Close()
		host = h
		opts = append(opts, runtime.WithConsole(ctrSock))
	}
	ctr, err := r.rt.Create(ctx, r.Name, bundle, opts...)
	if err != nil {
		return err
	}
	r.ctr = ctr
	if host != nil {
		// Init sent the master before Create returned.
		if r.console, err = runtime.ReceiveConsole(ctx, host); err != nil {
			r.rt.Delete(context.WithoutCancel(ctx), r.Name, true)
			return err
		}
	}
	if err := r.rt.Start(r.Name); err != nil {
		r.rt.Delete(context.WithoutCancel(ctx), r.Name, true)
		r.closeConsole()
		return err
	}
	return nil
}

// Console returns the pty master of a container started with
// RunOptions.Terminal (nil without): the caller relays it, for example
// with runtime.RelayConsole, which then owns it.
func (r *Running) Console() *os.File { return r.console }

func (r *Running) closeConsole() {
	if r.console != nil {
		r.console.Close()
	}
}

// imageConfig reads container c's image config from the store.
func imageConfig(st *store.Store, c *store.Container) (*ispec.Image, error) {
	m, err := st.Manifest(c.Manifest)
	if err != nil {
		return nil, err
	}
	return st.Config(m.Config.Digest)
}

// Wait waits for the container's process and returns its exit code
// (128+N when killed by signal N). It records the exit in the store
// record, for List; a record removed meanwhile (lamina rm --force) is not
// an error.
func (r *Running) Wait() (int, error) {
	code, err := r.ctr.Wait()
	if err != nil {
		return code, err
	}
	r.Record.Exit = &store.Exit{Code: code, At: time.Now().UTC()}
	if _, serr := os.Stat(r.st.ContainerDir(r.Record.ID)); serr == nil {
		if err := r.st.SaveContainer(r.Record); err != nil {
			return code, fmt.Errorf("record exit: %w", err)
		}
	}
	return code, nil
}

// LogPath is the log file of a container started with RunOptions.Log.
func LogPath(st *store.Store, c *store.Container) string {
	return filepath.Join(st.ContainerDir(c.ID), store.LogFile)
}

// Kill signals the container's process.
func (r *Running) Kill(sig unix.Signal) error { return r.rt.Kill(r.Name, sig) }

// Finish deletes the runtime container and unmounts its union; with
// remove it also deletes the container's upper layer and record, else they
// persist for later inspection or removal. It releases the waiter lock.
func (r *Running) Finish(ctx context.Context, remove bool) error {
	r.closeConsole() // a no-op error when the caller's relay closed it
	err := r.rt.Delete(ctx, r.Name, true)
	if errors.Is(err, runtime.ErrNotExist) {
		err = nil
	}
	return errors.Join(err, r.unmount(remove))
}

// unmount takes the union down and, with remove, the record; then it
// releases the waiter lock.
func (r *Running) unmount(remove bool) error {
	err := unionfs.Unmount(r.Record.Mountpoint)
	if err != nil && !isMounted(r.Record.Mountpoint) {
		err = nil // already down: lamina rm took it
	}
	if remove {
		err = errors.Join(err, r.st.RemoveContainer(r.Record.ID))
	}
	if r.waiter != nil {
		r.waiter.Close()
		r.waiter = nil
	}
	return err
}

// Remove deletes a container made by Start, found by name or store ID:
// its runtime state (killing it first when force), its union mount and
// its record and upper layer. With force it waits (bounded by ctx) for the
// process that waits for the container to record its exit and let go.
func Remove(ctx context.Context, st *store.Store, rt *runtime.Runtime, nameOrID string, force bool) error {
	c, err := Find(st, nameOrID)
	if err != nil {
		return fmt.Errorf("remove %s: %w", nameOrID, err)
	}
	if c.Name != "" {
		err := rt.Delete(ctx, c.Name, force)
		switch {
		case errors.Is(err, runtime.ErrRunning):
			return fmt.Errorf("remove %s: it is running (use --force): %w", nameOrID, err)
		case err != nil && !errors.Is(err, runtime.ErrNotExist):
			return fmt.Errorf("remove %s: %w", nameOrID, err)
		}
		if err := waitUntil(ctx, func() bool { return !waiterActive(st, c.ID) }); err != nil {
			return fmt.Errorf("remove %s: wait for its supervisor: %w", nameOrID, err)
		}
	}
	if err := unionfs.Unmount(c.Mountpoint); err != nil && isMounted(c.Mountpoint) {
		return fmt.Errorf("remove %s: %w", nameOrID, err)
	}
	return st.RemoveContainer(c.ID)
}

// Find returns the record of the container named nameOrID, or with that
// store ID; ErrNoContainer when there is none.
func Find(st *store.Store, nameOrID string) (*store.Container, error) {
	cs, err := st.Containers()
	if err != nil {
		return nil, err
	}
	var found *store.Container
	for i := range cs {
		if cs[i].Name == nameOrID || cs[i].ID == nameOrID {
			if found != nil {
				return nil, fmt.Errorf("%s names several containers (%s, %s); use an ID", nameOrID, found.ID, cs[i].ID)
			}
			found = &cs[i]
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoContainer, nameOrID)
	}
	return found, nil
}

// isMounted reports whether p is a mount point.
func isMounted(p string) bool {
	var stx unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, 0, &stx) != nil {
		return false
	}
	return stx.Attributes&unix.STATX_ATTR_MOUNT_ROOT != 0
}
