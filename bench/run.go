package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotRoot is returned by Run when it does not run as root: it mounts,
// chroots and drops the kernel's caches.
var ErrNotRoot = errors.New("benchfs must run as root (it mounts filesystems, chroots and drops the page cache)")

// MountError is a configuration failing to mount; Run reports every later
// cell of that configuration as n/a with it.
type MountError struct {
	Config string
	Err    error
}

func (e *MountError) Error() string { return "mount " + e.Config + ": " + e.Err.Error() }
func (e *MountError) Unwrap() error { return e.Err }

// Run prepares the fixture, measures every workload on every configuration
// and returns the results. It unmounts everything it mounted before it
// returns, also when ctx is cancelled.
func Run(ctx context.Context, opts ...Option) (*Results, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	started := time.Now()
	o.started = started

	mounters, err := selectMounters(Mounters(o.unionmount), o.configs)
	if err != nil {
		return nil, err
	}
	unlock, err := lockScratch(o.scratch)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := removeUnmounted(o.scratch); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.scratch, 0o755); err != nil {
		return nil, fmt.Errorf("create scratch: %w", err)
	}
	defer func() {
		if o.keep {
			_ = unmountUnder(o.scratch)
			o.logf("kept %s", o.scratch)
			return
		}
		if err := removeUnmounted(o.scratch); err != nil {
			o.logf("clean up: %v", err)
		}
	}()

	restoreReporting, reporting := pausePageReporting()
	defer restoreReporting()
	o.pageReporting = reporting

	fx, err := prepareFixture(ctx, &o)
	if err != nil {
		return nil, err
	}
	workloads, err := selectWorkloads(Workloads(fx), o.workloads)
	if err != nil {
		return nil, err
	}

	res := &Results{Runs: o.runs}
	broken := map[string]string{}
	var active []Mounter
	for _, m := range mounters {
		if c, ok := m.(Checker); ok {
			if err := c.Check(); errors.Is(err, ErrNotInstalled) {
				res.Notes = append(res.Notes, fmt.Sprintf("%s left out: %v", m.Name(), err))
				o.logf("%s left out: %v", m.Name(), err)
				continue
			} else if err != nil {
				broken[m.Name()] = err.Error()
			}
		}
		active = append(active, m)
		res.Configs = append(res.Configs, m.Name())
	}
	for _, w := range workloads {
		res.Workloads = append(res.Workloads, WorkloadInfo{Name: w.Name, Title: w.Title, Short: w.Short})
	}
	res.Cells = make([][]Cell, len(workloads))
	for i := range res.Cells {
		res.Cells[i] = make([]Cell, len(active))
	}

	for wi, w := range workloads {
		for run := range o.runs {
			for ci, m := range active {
				cell := &res.Cells[wi][ci]
				prefix := fmt.Sprintf("[%d/%d %s] run %d/%d %s", wi+1, len(workloads), w.Name, run+1, o.runs, m.Name())
				if reason, ok := broken[m.Name()]; ok {
					if cell.NA == "" {
						cell.NA = reason
						o.logf("%s: n/a: %s", prefix, reason)
					}
					continue
				}
				if cell.NA != "" {
					continue
				}
				d, err := measure(ctx, &o, m, w, fx)
				if ctx.Err() != nil {
					return nil, fmt.Errorf("run benchmark: %w", context.Cause(ctx))
				}
				if err != nil {
					// The per-run mount path says nothing; MNT reads better.
					reason := strings.ReplaceAll(err.Error(), filepath.Join(o.scratch, "inst", m.Name(), "mnt"), "MNT")
					var me *MountError
					if errors.As(err, &me) {
						broken[m.Name()] = reason
					}
					cell.NA = reason
					cell.Times = nil
					o.logf("%s: n/a: %s", prefix, reason)
					continue
				}
				cell.Times = append(cell.Times, d.Seconds())
				o.logf("%s: %.3f s", prefix, d.Seconds())
			}
		}
	}
	res.Facts = gatherFacts(ctx, &o, fx, mounters, time.Since(started))
	return res, nil
}

// trashSeq names the retired instance directories of one run.
var trashSeq atomic.Uint64

// measure mounts m on fresh directories, drops the caches, times w and
// unmounts.
func measure(ctx context.Context, o *options, m Mounter, w Workload, fx *Fixture) (_ time.Duration, err error) {
	inst := filepath.Join(o.scratch, "inst", m.Name())
	upper, work, mnt := filepath.Join(inst, "upper"), filepath.Join(inst, "work"), filepath.Join(inst, "mnt")
	if err := removeUnmounted(inst); err != nil {
		return 0, err
	}
	for _, d := range []string{upper, work, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return 0, fmt.Errorf("create %s: %w", d, err)
		}
	}
	defer func() {
		var rerr error
		if w.Bulky {
			rerr = removeUnmounted(inst)
		} else {
			trash := filepath.Join(o.scratch, "trash", strconv.FormatUint(trashSeq.Add(1), 10))
			rerr = retireUnmounted(inst, trash)
		}
		if rerr != nil && err == nil {
			err = rerr
		}
	}()

	if err := m.Mount(ctx, fx.Lowers, upper, work, mnt); err != nil {
		// A program may have mounted and then failed or timed out.
		_ = forceUnmount(mnt)
		return 0, &MountError{Config: m.Name(), Err: err}
	}
	defer func() {
		// Unmount even when ctx is cancelled: that is when it matters most.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unmountTimeout+10*time.Second)
		defer cancel()
		if uerr := m.Unmount(uctx, mnt); uerr != nil {
			o.logf("unmount %s: %v", m.Name(), uerr)
			if ferr := forceUnmount(mnt); ferr != nil && err == nil {
				err = fmt.Errorf("unmount %s: %w", m.Name(), errors.Join(uerr, ferr))
			}
		}
	}()

	if err := dropCaches(); err != nil {
		return 0, err
	}
	warm(ctx, fx)
	start := time.Now()
	check, err := w.Run(ctx, mnt)
	elapsed := time.Since(start)
	if err != nil {
		return 0, err
	}
	if err := check(); err != nil {
		return 0, fmt.Errorf("wrong result: %w", err)
	}
	return elapsed, nil
}

// lockScratch takes an exclusive lock next to the scratch directory, so that
// a second run cannot wipe the first one's layers under its mounts (and
// would not measure anything sensible while the first one runs anyway).
func lockScratch(scratch string) (unlock func(), err error) {
	path := scratch + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: another benchfs run is using %s", path, scratch)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// dropCaches writes back dirty data and drops the page, dentry and inode
// caches.
func dropCaches() error {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return fmt.Errorf("drop caches: %w", err)
	}
	return nil
}

// warm reads what the workloads use outside the mount.
func warm(ctx context.Context, fx *Fixture) {
	for _, argv := range warmTools {
		_ = command(ctx, argv[0], argv[1:]...).Run()
	}
	if f, err := os.Open(fx.Tarball); err == nil {
		buf := make([]byte, 1<<20)
		for {
			if _, err := f.Read(buf); err != nil {
				break
			}
		}
		f.Close()
	}
}

func selectMounters(all []Mounter, names []string) ([]Mounter, error) {
	if len(names) == 0 {
		return all, nil
	}
	var known []string
	for _, m := range all {
		known = append(known, m.Name())
	}
	var out []Mounter
	for _, m := range all {
		if slices.Contains(names, m.Name()) {
			out = append(out, m)
		}
	}
	for _, n := range names {
		if !slices.Contains(known, n) {
			return nil, fmt.Errorf("select configuration %q: not one of %s", n, strings.Join(known, ", "))
		}
	}
	return out, nil
}

func selectWorkloads(all []Workload, names []string) ([]Workload, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []Workload
	for _, w := range all {
		if slices.Contains(names, w.Name) {
			out = append(out, w)
		}
	}
	for _, n := range names {
		if !slices.Contains(WorkloadNames, n) {
			return nil, fmt.Errorf("select workload %q: not one of %s", n, strings.Join(WorkloadNames, ", "))
		}
	}
	return out, nil
}
