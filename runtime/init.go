package runtime

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// IsInit reports whether this process was started by Create as a
// container init (and so must call Init).
func IsInit() bool { return os.Getenv(initFDEnv) != "" }

// Init is the container side of Create. It reads its configuration from
// the sync socket, sets up the container (rootfs, root switch, hostname,
// rlimits, user, capabilities, fds), reports to the parent, waits for
// Start on exec.fifo and execs the container process. It returns only on
// error; the caller should then exit non-zero.
func Init() error {
	// Capabilities, keepcaps, no_new_privs and the cgroup namespace are
	// per thread: everything happens on this one, which also execs.
	goruntime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv(initFDEnv))
	if err != nil {
		return fmt.Errorf("init: bad %s: %w", initFDEnv, err)
	}
	os.Unsetenv(initFDEnv)
	sock := os.NewFile(uintptr(fd), "sync")
	var ic initConfig
	if err := json.NewDecoder(sock).Decode(&ic); err != nil {
		return fmt.Errorf("init: read config: %w", err)
	}
	if err := json.Unmarshal(ic.SpecJSON, &ic.Spec); err != nil {
		return fmt.Errorf("init: read config: %w", err)
	}
	argv0, fifo, err := setup(&ic, fd)
	if err != nil {
		json.NewEncoder(sock).Encode(&initReply{Error: err.Error()})
		return err
	}
	if err := json.NewEncoder(sock).Encode(&initReply{}); err != nil {
		return fmt.Errorf("init: report ready: %w", err)
	}
	sock.Close()
	if err := waitStart(fifo); err != nil {
		return err
	}
	p := ic.Spec.Process
	if err := syscall.Exec(argv0, p.Args, p.Env); err != nil {
		return fmt.Errorf("exec %s: %w", argv0, err)
	}
	return nil
}

// waitStart blocks until Start writes a byte into exec.fifo. The fifo was
// opened O_RDONLY|O_NONBLOCK before the root switch; poll does not report
// POLLHUP on a fifo that never had a writer, so it sleeps until Start.
func waitStart(fifo int) error {
	defer unix.Close(fifo)
	for {
		fds := []unix.PollFd{{Fd: int32(fifo), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("init: wait for start: %w", err)
		}
		var b [1]byte
		n, err := unix.Read(fifo, b[:])
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil || n != 1 {
			return fmt.Errorf("init: read exec fifo: n=%d: %v", n, err)
		}
		return nil
	}
}

// setup prepares everything up to the exec. It returns the resolved
// program path and the exec.fifo fd.
func setup(ic *initConfig, syncFD int) (string, int, error) {
	s := ic.Spec
	p := s.Process
	// Non-dumpable: other processes cannot open /proc/PID/exe (this very
	// binary) of init, the CVE-2019-5736 class. execve resets it.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return "", -1, fmt.Errorf("set non-dumpable: %w", err)
	}
	if hasNamespace(s, specs.CgroupNamespace) {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return "", -1, fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	last := lastCap()
	fifo, err := unix.Open(ic.FifoPath, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", -1, fmt.Errorf("open exec fifo: %w", err)
	}
	fail := func(err error) (string, int, error) { unix.Close(fifo); return "", -1, err }
	userns := hasNamespace(s, specs.UserNamespace)
	if err := prepareRootfs(s, ic.Rootfs, userns); err != nil {
		return fail(err)
	}
	if err := switchRoot(ic.Rootfs, ic.NoPivot); err != nil {
		return fail(err)
	}
	if err := finishRootfs(s); err != nil {
		return fail(err)
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fail(fmt.Errorf("hostname: %w", err))
		}
	}
	if s.Domainname != "" {
		if err := unix.Setdomainname([]byte(s.Domainname)); err != nil {
			return fail(fmt.Errorf("domainname: %w", err))
		}
	}
	if p.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*p.OOMScoreAdj)), 0); err != nil {
			return fail(fmt.Errorf("process.oomScoreAdj: %w", err))
		}
	}
	for _, rl := range p.Rlimits {
		n, _ := rlimitNumber(rl.Type)
		if err := syscall.Setrlimit(n, &syscall.Rlimit{Cur: rl.Soft, Max: rl.Hard}); err != nil {
			return fail(fmt.Errorf("process.rlimits %s=%d:%d: %w", rl.Type, rl.Soft, rl.Hard, err))
		}
	}
	if err := setUser(p, newCaps(p.Capabilities, last)); err != nil {
		return fail(err)
	}
	if err := chdirInside(p.Cwd); err != nil {
		return fail(err)
	}
	argv0, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return fail(fmt.Errorf("process.args[0]: %w", err))
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fail(fmt.Errorf("process.noNewPrivileges: %w", err))
		}
	}
	// Every fd above stdio and the preserved ones (the sync socket
	// included) closes at exec.
	if err := unix.CloseRange(uint(3+ic.PreserveFDs), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fail(fmt.Errorf("mark fds close-on-exec: %w", err))
	}
	return argv0, fifo, nil
}

// setUser switches to process.user and sets the capability sets: drop the
// bounding set while still privileged, keep the permitted set across the
// uid change, then set the other sets.
func setUser(p *specs.Process, c caps) error {
	if err := c.dropBounding(); err != nil {
		return fmt.Errorf("process.capabilities.bounding: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set keepcaps: %w", err)
	}
	u := p.User
	if b, err := os.ReadFile("/proc/self/setgroups"); err == nil && strings.TrimSpace(string(b)) == "deny" {
		if len(u.AdditionalGids) > 0 {
			return configErrorf("process.user.additionalGids", "setgroups is denied in this user namespace")
		}
	} else {
		gids := make([]int, len(u.AdditionalGids))
		for i, g := range u.AdditionalGids {
			gids[i] = int(g)
		}
		if err := syscall.Setgroups(gids); err != nil {
			return fmt.Errorf("process.user.additionalGids: %w", err)
		}
	}
	if err := syscall.Setresgid(int(u.GID), int(u.GID), int(u.GID)); err != nil {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, err)
	}
	if err := syscall.Setresuid(int(u.UID), int(u.UID), int(u.UID)); err != nil {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, err)
	}
	if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("clear keepcaps: %w", err)
	}
	if err := c.apply(); err != nil {
		return fmt.Errorf("process.capabilities: %w", err)
	}
	return nil
}

// chdirInside changes to cwd and checks that the result is inside the
// container's root: getcwd fails for a directory outside it, which is how
// a leaked host fd used as cwd shows (the CVE-2024-21626 class).
func chdirInside(cwd string) error {
	os.MkdirAll(cwd, 0o755) // best effort (a read-only root refuses); chdir reports the real error
	if err := unix.Chdir(cwd); err != nil {
		return fmt.Errorf("process.cwd %s: %w", cwd, err)
	}
	wd, err := unix.Getwd()
	if err != nil || !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("process.cwd %s: current directory is outside the container", cwd)
	}
	return nil
}

// lookPath resolves a program name like execvp, with PATH from the
// container's environment.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, checkExecutable(name)
	}
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH", name)
}

func checkExecutable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s: not an executable file", p)
	}
	return nil
}
