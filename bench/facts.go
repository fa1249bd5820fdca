package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/unionfs/uring"
)

// Fact is one line of the machine and method description.
type Fact struct {
	Key, Value string
}

// gatherFacts describes the machine, the tools and the fixture.
func gatherFacts(ctx context.Context, o *options, fx *Fixture, mounters []Mounter, elapsed time.Duration) []Fact {
	var facts []Fact
	add := func(k, v string) {
		if v != "" {
			facts = append(facts, Fact{k, v})
		}
	}
	add("date", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	var un unix.Utsname
	if unix.Uname(&un) == nil {
		add("kernel", unix.ByteSliceToString(un.Release[:])+" "+unix.ByteSliceToString(un.Machine[:]))
	}
	add("cpus", cpus())
	add("idle vCPU polling", haltPoll())
	if uring.Available() {
		add("FUSE over io_uring", "on (fuse enable_uring=Y): every lamina configuration but "+NameLaminaDevFUSE+" is served through it")
	} else {
		add("FUSE over io_uring", "off in this kernel: every lamina configuration is served through /dev/fuse")
	}
	add("memory", memTotal())
	add("free page reporting", o.pageReporting)
	add("disk", diskOf(o.scratch))
	add("overlay module", overlayParams())
	add("runs per cell", fmt.Sprintf("%d (median)", o.runs))
	add("total run time", elapsed.Round(time.Second).String())
	add("tree", fx.Tree)
	for i, l := range fx.Layers {
		add(fmt.Sprintf("layer %d", i+1), l)
	}
	add("upper", "empty, fresh for every run, on the same disk")
	add("python3 in tree", fx.PythonVersion)
	add("go", runtime.Version())
	for _, m := range mounters {
		switch m.Name() {
		case NameFuseOverlayfs:
			add("fuse-overlayfs", toolVersion(ctx, "fuse-overlayfs", "fuse-overlayfs", "--version"))
		case NameUnionfsFuse:
			add("unionfs-fuse", toolVersion(ctx, "unionfs", "unionfs", "--version"))
		case NameLaminaFUSE:
			add("lamina unionmount", laminaVersion(ctx, o.unionmount))
		}
	}
	add("fusermount3", toolVersion(ctx, "", "fusermount3", "--version"))
	add("tar", toolVersion(ctx, "", "tar", "--version"))
	add("find", toolVersion(ctx, "", "find", "--version"))
	add("debootstrap", toolVersion(ctx, "", "debootstrap", "--version"))
	return facts
}

// toolVersion runs a version command and returns its first line that
// contains want (or its first line).
func toolVersion(ctx context.Context, want, prog string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if err != nil && len(lines) == 0 {
		return "(version unknown: " + err.Error() + ")"
	}
	for _, l := range lines {
		if want != "" && strings.Contains(l, want) {
			return l
		}
	}
	if len(lines) == 0 {
		return "(version unknown)"
	}
	return lines[0]
}

// laminaVersion names the unionmount binary, its --version when it has one,
// its build time, and the commit of the work tree it was built in.
func laminaVersion(ctx context.Context, path string) string {
	parts := []string{path}
	if v := toolVersion(ctx, "", path, "--version"); !strings.HasPrefix(v, "(") && !strings.Contains(v, "unknown flag") {
		parts = append(parts, v)
	}
	if info, err := os.Stat(path); err == nil {
		parts = append(parts, "built "+info.ModTime().UTC().Format("2006-01-02 15:04 UTC"))
	}
	cmd := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty")
	cmd.Dir = filepath.Dir(filepath.Dir(path))
	if out, err := cmd.Output(); err == nil {
		parts = append(parts, "work tree at "+strings.TrimSpace(string(out)))
	}
	return strings.Join(parts, ", ")
}

func memTotal() string {
	v := strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB")
	var kb int64
	if _, err := fmt.Sscan(v, &kb); err != nil || kb == 0 {
		return ""
	}
	return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
}

// procField returns the value of "key: value" in a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// diskOf says which filesystem holds dir.
func diskOf(dir string) string {
	entries, err := readMountinfo()
	if err != nil {
		return ""
	}
	best := mountEntry{}
	for _, e := range entries {
		if (dir == e.point || strings.HasPrefix(dir, strings.TrimSuffix(e.point, "/")+"/")) && len(e.point) >= len(best.point) {
			best = e
		}
	}
	if best.point == "" {
		return ""
	}
	return fmt.Sprintf("%s on %s (%s)", dir, best.point, best.fstype)
}

// overlayParams lists the kernel overlay module's defaults that change what
// copy-up and rename do.
func overlayParams() string {
	var parts []string
	for _, p := range []string{"index", "metacopy", "redirect_dir", "xino_auto"} {
		b, err := os.ReadFile(filepath.Join("/sys/module/overlay/parameters", p))
		if err == nil {
			parts = append(parts, p+"="+strings.TrimSpace(string(b)))
		}
	}
	return strings.Join(parts, ", ")
}

// cpus says how many CPUs the machine has and, when the run was confined
// to fewer (make bench-fs BENCH_CPUS=0), which ones it ran on: the
// daemons and the workloads inherit the confinement.
func cpus() string {
	online := runtime.NumCPU() // the affinity's count: only when sysfs says nothing
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		online = countCPUList(strings.TrimSpace(string(b)))
	}
	s := fmt.Sprintf("%d (%s)", online, procField("/proc/cpuinfo", "model name"))
	var set unix.CPUSet
	if unix.SchedGetaffinity(0, &set) == nil && set.Count() < online {
		var ids []string
		for i := 0; i < 1024; i++ {
			if set.IsSet(i) {
				ids = append(ids, fmt.Sprint(i))
			}
		}
		s += "; this run confined to CPU " + strings.Join(ids, ",")
	}
	return s
}

// countCPUList counts the CPUs in a kernel CPU list such as "0-3,6".
func countCPUList(list string) int {
	n := 0
	for _, r := range strings.Split(list, ",") {
		var lo, hi int
		if c, _ := fmt.Sscanf(r, "%d-%d", &lo, &hi); c == 2 {
			n += hi - lo + 1
		} else if c == 1 {
			n++
		}
	}
	return n
}

// haltPoll reports the guest's idle polling, which decides what waking an
// idle virtual CPU costs, and with it every FUSE round trip that crosses
// CPUs (a halted vCPU is woken through the hypervisor).
func haltPoll() string {
	drv, err := os.ReadFile("/sys/devices/system/cpu/cpuidle/current_driver")
	if err != nil {
		return ""
	}
	s := "cpuidle " + strings.TrimSpace(string(drv))
	if ns, err := os.ReadFile("/sys/module/haltpoll/parameters/guest_halt_poll_ns"); err == nil {
		s += ", guest_halt_poll_ns=" + strings.TrimSpace(string(ns))
	}
	return s
}
