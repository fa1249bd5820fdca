package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/engine"
	"github.com/lamina-dev/lamina/oci/pull"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
)

// imageRunFlags are docker run's flags, for "lamina run IMAGE".
type imageRunFlags struct {
	rm, interactive, tty, readOnly, insecure bool
	env, envFiles, volumes                   []string
	workdir, user, hostname, name, network   string
	entrypoint, memory, driver, store        string
	cpus                                     float64
	pidsLimit                                int64
}

func (f *imageRunFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.rm, "rm", false, "IMAGE: remove the container (its upper layer) when it exits")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "IMAGE: connect stdin to the container")
	fs.BoolVarP(&f.tty, "tty", "t", false, "IMAGE: give the container a terminal, relayed to lamina's (with -i, lamina's stdin in raw mode)")
	fs.BoolVar(&f.readOnly, "read-only", false, "IMAGE: mount the container's root read-only")
	fs.BoolVar(&f.insecure, "insecure", false, "IMAGE: allow plain HTTP to a registry that is not on loopback")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "IMAGE: set NAME=VALUE in the environment (repeatable)")
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "IMAGE: read NAME=VALUE lines from a file (repeatable)")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "IMAGE: bind HOST:CONTAINER[:ro] (repeatable)")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "IMAGE: working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "IMAGE: user[:group] to run as (names from the image's /etc/passwd)")
	fs.StringVar(&f.hostname, "hostname", "", "IMAGE: hostname (default: the container's name)")
	fs.StringVar(&f.name, "name", "", "IMAGE: the container's name (default: a short ID)")
	fs.StringVar(&f.network, "network", "host", "IMAGE: host (share the host's network) or none (loopback only)")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "IMAGE: override the image's entrypoint")
	fs.StringVar(&f.memory, "memory", "", "IMAGE: memory limit, e.g. 64m or 1g")
	fs.Float64Var(&f.cpus, "cpus", 0, "IMAGE: CPU limit in cores, e.g. 0.5")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "IMAGE: maximum number of processes")
	fs.StringVar(&f.driver, "driver", "auto", "IMAGE: union driver: auto, fuse or overlay")
	fs.StringVar(&f.store, "store", store.DefaultRoot(), "IMAGE: image store directory")
}

// isBundleRun says whether "lamina run" should act as runc's run (a bundle
// and a container ID) rather than docker's (an image and a command): when
// --bundle is given, or with one argument and a config.json here.
func isBundleRun(fs *pflag.FlagSet, args []string) bool {
	if fs.Changed("bundle") {
		return true
	}
	if len(args) != 1 {
		return false
	}
	_, err := os.Stat("config.json")
	return err == nil
}

// runImage is "lamina run [flags] IMAGE [CMD...]".
func runImage(ctx context.Context, out, errOut io.Writer, rt *runtime.Runtime, f *imageRunFlags, detach bool, args []string) error {
	o, err := f.options(args)
	if err != nil {
		return err
	}
	if f.tty && detach {
		return errors.New("--tty: not with --detach: lamina cannot attach to a detached container's terminal later")
	}
	if f.tty {
		o.Terminal = true
		o.ConsoleSize = terminalSize()
	}
	if detach && f.interactive {
		return fmt.Errorf("--interactive: %w with --detach (a detached container's stdin is /dev/null)", runtime.ErrUnsupported)
	}
	var ready *os.File
	if detach {
		if !isSupervisor() {
			return startSupervisor(ctx, out, errOut)
		}
		if ready, err = readyPipe(); err != nil {
			return err
		}
		defer ready.Close()
	}
	st, err := store.Open(f.store)
	if err != nil {
		return err
	}
	switch {
	case detach:
		o.Log = true
	case f.interactive:
		o.Stdin = os.Stdin
		fallthrough
	default:
		o.Stdout, o.Stderr = os.Stdout, os.Stderr
	}
	o.Pull = append(o.Pull, pull.WithProgress((&progressPrinter{w: errOut}).print))
	if f.insecure {
		o.Pull = append(o.Pull, pull.WithInsecure(true))
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	defer signal.Stop(sigs)
	r, err := engine.Start(ctx, st, rt, o)
	if err != nil {
		return err
	}
	if detach {
		if err := supervisorReady(ready, r.Name); err != nil {
			slog.Error("supervise", "container", r.Name, "err", err)
		}
	}
	stopTTY := func() {}
	if f.tty {
		if stopTTY, err = relayTTY(r.Console(), f.interactive); err != nil {
			r.Kill(unix.SIGKILL)
			r.Wait()
			fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			return errors.Join(err, r.Finish(fctx, f.rm))
		}
	}
	code, werr := waitForwarding(sigs, r.Wait, r.Kill)
	stopTTY()
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Finish(fctx, f.rm); err != nil {
		slog.Error("clean up after run", "container", r.Name, "err", err)
	}
	if werr != nil {
		return werr
	}
	if code != 0 && !detach {
		return &exitError{code: code}
	}
	return nil
}

// options turns the flags and IMAGE [CMD...] into engine options.
func (f *imageRunFlags) options(args []string) (engine.RunOptions, error) {
	o := engine.RunOptions{
		Ref: args[0], Workdir: f.workdir, User: f.user, Hostname: f.hostname, Name: f.name,
		CPUs: f.cpus, PidsLimit: f.pidsLimit, ReadOnly: f.readOnly, Network: f.network, Driver: f.driver,
	}
	if len(args) > 1 {
		o.Cmd = args[1:]
	}
	if f.entrypoint != "" {
		ep := []string{f.entrypoint}
		o.Entrypoint = &ep
	}
	for _, file := range f.envFiles {
		env, err := readEnvFile(file)
		if err != nil {
			return o, err
		}
		o.Env = append(o.Env, env...)
	}
	o.Env = append(o.Env, f.env...)
	for _, v := range f.volumes {
		vol, err := engine.ParseVolume(v)
		if err != nil {
			return o, err
		}
		o.Volumes = append(o.Volumes, vol)
	}
	if f.memory != "" {
		n, err := parseBytes(f.memory)
		if err != nil {
			return o, fmt.Errorf("--memory: %w", err)
		}
		o.Memory = n
	}
	if f.cpus < 0 || f.pidsLimit < 0 {
		return o, errors.New("--cpus and --pids-limit must not be negative")
	}
	return o, nil
}

// readEnvFile reads NAME=VALUE lines; blank lines and # comments are
// skipped, and a bare NAME takes its value from this environment.
func readEnvFile(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	defer fh.Close()
	var env []string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "=") {
			if v, ok := os.LookupEnv(line); ok {
				line += "=" + v
			} else {
				continue
			}
		}
		env = append(env, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file %s: %w", path, err)
	}
	return env, nil
}

// parseBytes reads sizes like 512, 64k, 64m, 1g (powers of 1024).
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToLower(strings.TrimSuffix(strings.ToLower(s), "b"))
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, strings.TrimSuffix(t, "g")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a size like 64m", s)
	}
	return n * mult, nil
}
