package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/lamina-dev/lamina/unionfs"
)

// readyEnv names the descriptor a daemon child reports readiness on.
const readyEnv = "LAMINA_UNIONMOUNT_READY_FD"

type mountArgs struct {
	opts       []string
	mnt        string
	driver     unionfs.Driver
	debug      bool
	foreground bool
}

// run mounts; for FUSE it serves in this process (foreground) or in a
// re-executed daemon child whose readiness it waits for.
func run(ctx context.Context, log *slog.Logger, a mountArgs) error {
	req, err := unionfs.ParseMountOptions(a.opts)
	if err != nil {
		return err
	}
	if req.Driver != "" && a.driver == unionfs.DriverAuto {
		a.driver = req.Driver // -o driver=... (fstab), unless --driver says otherwise
	}
	d, why := unionfs.ChooseDriver(a.driver, req)
	log.Debug("driver chosen", "driver", d, "why", why)
	if d == unionfs.DriverOverlay {
		err := unionfs.MountOverlay(req, a.mnt)
		if a.driver != unionfs.DriverAuto || !errors.Is(err, unionfs.ErrForeignRedirect) {
			return err
		}
		// Only the walk of the lowers finds these; FUSE follows them.
		log.Debug("driver chosen", "driver", unionfs.DriverFUSE, "why", err.Error())
	}
	if !a.foreground && !a.debug && os.Getenv(readyEnv) == "" {
		return daemonize()
	}
	tuneGC(ctx)
	u, err := unionfs.New(req.EffectiveConfig(), append(req.Options, unionfs.WithDebug(a.debug))...)
	if err != nil {
		return err
	}
	stopProfile, err := startProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	srv, err := u.Mount(a.mnt)
	if err != nil {
		return err
	}
	log.Debug("mounted", "mountpoint", srv.Mountpoint, "whiteouts", u.WhiteoutFormat())
	os.Chdir("/")
	signalReady("")
	served := make(chan struct{})
	go func() {
		select {
		case <-served:
			return
		case <-ctx.Done():
		}
		select {
		case <-served: // unmounted already: what is there now is not ours
		default:
			if err := srv.Stop(); err != nil {
				log.Error("unmount on signal", "err", err)
			}
		}
	}()
	srv.Wait()
	close(served)
	removeEmptyLog()
	return nil
}

// daemonize re-executes this program in the foreground as a detached
// child and returns once it reports that the mount is ready, or its error.
func daemonize() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("create ready pipe: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), readyEnv+"=3")
	stderr := openDaemonLog()
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	if stderr != nil {
		defer stderr.Close()
		cmd.Stderr = stderr
		cmd.Env = append(cmd.Env, logEnv+"="+stderr.Name())
	}
	if err := cmd.Start(); err != nil {
		if stderr != nil {
			removeIfEmpty(stderr, stderr.Name())
		}
		return fmt.Errorf("start daemon: %w", err)
	}
	w.Close()
	line, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	line = strings.TrimSpace(line)
	switch {
	case line == "ok":
		cmd.Process.Release()
		return nil
	case strings.HasPrefix(line, "error "):
		cmd.Wait()
		if stderr != nil {
			removeIfEmpty(stderr, stderr.Name())
		}
		return errors.New(strings.TrimPrefix(line, "error "))
	}
	err = cmd.Wait()
	if stderr != nil {
		if fi, serr := stderr.Stat(); serr == nil && fi.Size() > 0 {
			return fmt.Errorf("daemon exited before the mount was ready: %v (its output: %s)", err, stderr.Name())
		}
		removeIfEmpty(stderr, stderr.Name())
	}
	return fmt.Errorf("daemon exited before the mount was ready: %v", err)
}

// signalReady tells a waiting parent that the mount is ready (msg empty)
// or why it failed, and reports whether there was a parent to tell.
func signalReady(msg string) bool {
	fd, err := strconv.Atoi(os.Getenv(readyEnv))
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), "ready")
	if msg == "" {
		fmt.Fprintln(f, "ok")
	} else {
		fmt.Fprintln(f, "error "+strings.ReplaceAll(msg, "\n", " "))
	}
	f.Close()
	os.Unsetenv(readyEnv)
	return true
}
