package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/lamina-dev/lamina/runtime/internal/nsenter"
	"github.com/moby/sys/userns"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// IsInit reports whether this process was started by Create as a
// container init (and so must call Init).
func IsInit() bool { return os.Getenv(initFDEnv) != "" }

// Init is the container side of Create and Exec. It reads its
// configuration from the sync socket. For Create it sets up the container
// (rootfs, root switch, hostname, rlimits, user, capabilities, fds),
// reports to the parent, waits for Start on exec.fifo and execs the
// container process; for Exec it applies the process settings inside the
// container and execs (execInside). It returns only on error; the caller
// should then exit non-zero.
func Init() error {
	// Capabilities, keepcaps, no_new_privs and the cgroup namespace are
	// per thread: everything happens on this one, which also execs.
	goruntime.LockOSThread()
	fd, err := strconv.Atoi(os.Getenv(initFDEnv))
	if err != nil {
		return fmt.Errorf("init: bad %s: %w", initFDEnv, err)
	}
	os.Unsetenv(initFDEnv)
	for _, e := range []string{nsenter.EnvSync, nsenter.EnvJoin, nsenter.EnvUnshare, nsenter.EnvTimeNS} {
		os.Unsetenv(e)
	}
	sock := os.NewFile(uintptr(fd), "sync")
	enc, dec := json.NewEncoder(sock), json.NewDecoder(sock)
	var ic initConfig
	if err := dec.Decode(&ic); err != nil {
		return fmt.Errorf("init: read config: %w", err)
	}
	// The fds above the preserved ones (sync socket, exec.fifo, console
	// socket, root) are used by number only: no hook or other child may
	// inherit them.
	if err := closeOnExecFrom(3 + ic.PreserveFDs); err != nil {
		return err
	}
	if ic.Exec != nil {
		return execInside(sock, &ic)
	}
	if err := json.Unmarshal(ic.SpecJSON, &ic.Spec); err != nil {
		return fmt.Errorf("init: read config: %w", err)
	}
	// createRuntimeHooks hands over to the parent, which runs prestart and
	// createRuntime, and waits for it to finish.
	createRuntimeHooks := func() error {
		if err := enc.Encode(&initReply{Hooks: true}); err != nil {
			return fmt.Errorf("init: ask for createRuntime hooks: %w", err)
		}
		if err := dec.Decode(&initResume{}); err != nil {
			return fmt.Errorf("init: wait for createRuntime hooks: %w", err)
		}
		return nil
	}
	px, err := setup(&ic, createRuntimeHooks)
	if err != nil {
		enc.Encode(errorReply(err))
		return err
	}
	if err := enc.Encode(&initReply{}); err != nil {
		return fmt.Errorf("init: report ready: %w", err)
	}
	sock.Close()
	if err := waitStart(px.fifo); err != nil {
		return err
	}
	// From here on a failure goes back to Start through exec.fifo (see
	// Runtime.Start), as one initReply.
	if err := startContainer(&ic, px); err != nil {
		b, _ := json.Marshal(errorReply(err))
		unix.Write(px.fifo, b)
		return err
	}
	return nil
}

// startContainer runs the startContainer hooks, loads the seccomp filter
// when setup left that for last, and execs the container process. It
// returns only on error.
func startContainer(ic *initConfig, px *prepared) error {
	s := ic.Spec
	if err := runHooks(context.Background(), s.Hooks, ic.State, specs.StateCreated, hookStartContainer); err != nil {
		return err
	}
	if px.seccomp != nil {
		if err := px.seccomp.Load(); err != nil {
			return fmt.Errorf("linux.seccomp: load filter: %w", err)
		}
	}
	return execWithRlimits(px.argv0, s.Process.Args, s.Process.Env, s.Process.Rlimits)
}

// waitStart blocks until Start writes a byte into exec.fifo. The fifo was
// opened O_RDWR|O_NONBLOCK before the root switch (init is a reader, so
// Start's open succeeds, and a writer, so no end-of-file ever shows).
func waitStart(fifo int) error {
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

// prepared is what setup leaves for the exec: the resolved program, the
// exec.fifo fd, and the seccomp filter when it is to be loaded last.
type prepared struct {
	argv0   string
	fifo    int
	seccomp *libseccomp.ScmpFilter
}

// setup prepares everything up to the exec. createRuntimeHooks is called
// between the mounts and the root switch when there are prestart or
// createRuntime hooks.
func setup(ic *initConfig, createRuntimeHooks func() error) (*prepared, error) {
	s := ic.Spec
	p := s.Process
	// Non-dumpable: other processes cannot open /proc/PID/exe (this very
	// binary) of init, the CVE-2019-5736 class. execve resets it.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("set non-dumpable: %w", err)
	}
	// A new session, as runc's init: the container never shares the
	// caller's controlling terminal (a ^C typed there reaches it only when
	// forwarded), and in terminal mode it can take its own.
	if _, err := unix.Setsid(); err != nil {
		return nil, fmt.Errorf("start session: %w", err)
	}
	if hasNamespace(s, specs.CgroupNamespace) && !joinsNamespace(s.Linux, specs.CgroupNamespace) {
		if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
			return nil, fmt.Errorf("unshare cgroup namespace: %w", err)
		}
	}
	last := lastCap()
	// O_RDWR: see waitStart. Start still tells a dead init by ENXIO on
	// its O_WRONLY open: init is the only other holder. Reopened through
	// the O_PATH fd Create passed, as the container's root user may not
	// reach the state directory.
	fifo, err := unix.Open("/proc/self/fd/"+strconv.Itoa(ic.FifoFD), unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	fail := func(err error) (*prepared, error) { unix.Close(fifo); return nil, err }
	// In a user namespace, new or inherited, device nodes cannot be made.
	userns := hasNamespace(s, specs.UserNamespace) || userns.RunningInUserNS()
	// A joined mount namespace is shared with its other processes.
	sharedMnt := joinsNamespace(s.Linux, specs.MountNamespace)
	if err := prepareRootfs(s, ic.Rootfs, userns, sharedMnt); err != nil {
		return fail(err)
	}
	if hasHooks(s.Hooks, hookPrestart, hookCreateRuntime) {
		if err := createRuntimeHooks(); err != nil {
			return fail(err)
		}
	}
	// createContainer: in the container's namespaces, before the root
	// switch (the hook's path is a host path).
	if err := runHooks(context.Background(), s.Hooks, ic.State, specs.StateCreating, hookCreateContainer); err != nil {
		return fail(err)
	}
	if err := switchRoot(ic.Rootfs, ic.NoPivot, sharedMnt); err != nil {
		return fail(err)
	}
	if err := applyRootPropagation(s); err != nil {
		return fail(err)
	}
	if p.Terminal {
		// After the root switch, so the pty comes from the container's
		// devpts; before finishRootfs, which may make /dev/console's
		// filesystem read-only.
		if err := setupTerminal(ic.ConsoleFD, p, true); err != nil {
			return fail(err)
		}
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
	argv0, filter, err := applyProcess(p, s.Linux.Seccomp, ic.PreserveFDs, last)
	if err != nil {
		return fail(err)
	}
	return &prepared{argv0: argv0, fifo: fifo, seccomp: filter}, nil
}

// applyProcess applies the settings of p that init and exec share, in
// order: oom_score_adj, the raised hard rlimits (the rest is set at the
// exec, see execWithRlimits), the seccomp filter (see below), the user
// and capabilities, the cwd (checked to be inside the root), the program
// lookup in the container's PATH, the umask (default 022), no_new_privs,
// and close-on-exec for every fd above stdio and the preserved ones. last
// is the kernel's highest capability, read before the root switch. It
// returns the program path, and the seccomp filter when the caller is to
// load it just before the exec.
//
// The seccomp filter is built here, so that a problem fails before the
// exec, and loaded as late as possible: just before the exec when the
// process may still load it then (no_new_privs set, or CAP_SYS_ADMIN kept
// in the effective set), otherwise here, before the user switch drops
// CAP_SYS_ADMIN; the filter then also applies to the rest of the setup.
func applyProcess(p *specs.Process, sc *specs.LinuxSeccomp, preserveFDs, last int) (string, *libseccomp.ScmpFilter, error) {
	if p.OOMScoreAdj != nil {
		if err := os.WriteFile("/proc/self/oom_score_adj", []byte(strconv.Itoa(*p.OOMScoreAdj)), 0); err != nil {
			return "", nil, fmt.Errorf("process.oomScoreAdj: %w", err)
		}
	}
	if err := raiseRlimits(p.Rlimits); err != nil {
		return "", nil, err
	}
	c := newCaps(p.Capabilities, last)
	var filter *libseccomp.ScmpFilter
	if sc != nil {
		var err error
		if filter, err = newSeccompFilter(sc); err != nil {
			return "", nil, err
		}
		if sysAdmin, _ := capNumber("CAP_SYS_ADMIN"); !p.NoNewPrivileges && c.effective&(1<<sysAdmin) == 0 {
			if err := filter.Load(); err != nil {
				return "", nil, fmt.Errorf("linux.seccomp: load filter: %w", err)
			}
			filter = nil
		}
	}
	if err := setUser(p, c); err != nil {
		return "", nil, err
	}
	if err := chdirInside(p.Cwd); err != nil {
		return "", nil, err
	}
	argv0, err := lookPath(p.Args[0], p.Env)
	if err != nil {
		return "", nil, fmt.Errorf("process.args[0]: %w", err)
	}
	umask := 0o022
	if p.User.Umask != nil {
		umask = int(*p.User.Umask)
	}
	unix.Umask(umask)
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return "", nil, fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	// Every fd above stdio and the preserved ones (the sync socket
	// included) closes at exec.
	if err := closeOnExecFrom(3 + preserveFDs); err != nil {
		return "", nil, fmt.Errorf("mark fds close-on-exec: %w", err)
	}
	return argv0, filter, nil
}

// closeOnExecFrom sets FD_CLOEXEC on every fd from min up:
// close_range(CLOSE_RANGE_CLOEXEC) when it works, otherwise one fcntl per
// fd listed in /proc/self/fd. The fallback matters: a seccomp profile
// older than close_range (the OCI runtime-tools default, for one)
// answers it with EPERM, and a filter loaded before the user switch is
// already in force here; kernels before 5.11 answer EINVAL or ENOSYS.
func closeOnExecFrom(min int) error {
	err := unix.CloseRange(uint(min), math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("close_range: %w (and list /proc/self/fd: %v)", err, rerr)
	}
	for _, e := range entries {
		fd, cerr := strconv.Atoi(e.Name())
		if cerr != nil || fd < min {
			continue
		}
		// The fd of the listing itself is closed by now: EBADF is fine.
		if _, ferr := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); ferr != nil && ferr != unix.EBADF {
			return fmt.Errorf("set FD_CLOEXEC on fd %d: %w", fd, ferr)
		}
	}
	return nil
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
