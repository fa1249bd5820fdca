package runtime

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Terminal mode (process.terminal): the container's init allocates a pty
// from the container's own /dev/ptmx and sends the master to the caller
// over a unix socket with SCM_RIGHTS, as runc does. The socket is either
// a path the caller listens on (WithConsoleSocket, runc's
// --console-socket; Create connects to it from the host) or one end of a
// socket pair the caller holds (WithConsole and ConsolePair, for a
// terminal relayed in process, see console.go).

// WithConsoleSocket makes Create connect to the unix socket at path and
// hand the connection to init, which sends the pty master of the
// container's terminal over it (one message: data "/dev/ptmx", the fd in
// SCM_RIGHTS), as runc's --console-socket. The config must set
// process.terminal.
func WithConsoleSocket(path string) CreateOption {
	return func(o *createOptions) { o.consoleSocket = path }
}

// WithConsole is WithConsoleSocket for a socket that is already
// connected: init sends the pty master over sock (usually the second
// result of ConsolePair). The caller keeps ownership of sock and should
// close it once Create returns.
func WithConsole(sock *os.File) CreateOption {
	return func(o *createOptions) { o.console = sock }
}

// openConsole checks that the options agree with process.terminal and
// returns the connected socket init sends the master over (nil without a
// terminal). The caller closes it.
func (o *createOptions) openConsole(p *specs.Process) (*os.File, error) {
	given := o.consoleSocket != "" || o.console != nil
	switch {
	case p.Terminal && !given:
		return nil, &ConfigError{Field: "process.terminal", Err: ErrNoConsoleSocket}
	case !p.Terminal && given:
		return nil, &ConfigError{Field: "process.terminal", Err: ErrNoTerminal}
	case !p.Terminal:
		return nil, nil
	case o.consoleSocket != "" && o.console != nil:
		return nil, errors.New("create: both a console socket path and a connected console socket were given")
	case o.console != nil:
		// A duplicate, so that the caller's close and ours are independent.
		fd, err := unix.FcntlInt(uintptr(rawFD(o.console)), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("duplicate console socket: %w", err)
		}
		return os.NewFile(uintptr(fd), "console-socket"), nil
	}
	c, err := net.Dial("unix", o.consoleSocket)
	if err != nil {
		return nil, fmt.Errorf("connect console socket: %w", err)
	}
	defer c.Close()
	f, err := c.(*net.UnixConn).File()
	if err != nil {
		return nil, fmt.Errorf("connect console socket: %w", err)
	}
	return f, nil
}

// newPTY opens a new pty master at ptmx (O_NOCTTY, close-on-exec),
// unlocks it and returns it with the path of its slave ("/dev/pts/N",
// which names the slave when ptmx is the devpts instance's ptmx).
func newPTY(ptmx string) (int, string, error) {
	master, err := unix.Open(ptmx, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &os.PathError{Op: "open", Path: ptmx, Err: err}
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(master)
		return -1, "", fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetUint32(master, unix.TIOCGPTN)
	if err != nil {
		unix.Close(master)
		return -1, "", fmt.Errorf("read pty number: %w", err)
	}
	return master, fmt.Sprintf("/dev/pts/%d", n), nil
}

// setupTerminal runs in init after the root switch (so /dev/ptmx is the
// container's) and before the container's user is set, and likewise in an
// exec'd process. It allocates the pty, applies process.consoleSize,
// bind-mounts the slave on /dev/console when console is set (init:
// runtime-spec, runtime-linux.md; an exec'd process leaves the
// container's mounts alone), sends the master over sock and closes its
// own copy, gives the slave to process.user.uid, makes it the controlling
// terminal (the caller is a session leader: init calls setsid first) and
// puts it on fds 0, 1 and 2. It closes sock.
func setupTerminal(sock int, p *specs.Process, console bool) error {
	defer unix.Close(sock)
	master, slavePath, err := newPTY("/dev/ptmx")
	if err != nil {
		return fmt.Errorf("process.terminal: %w", err)
	}
	defer unix.Close(master)
	if cs := p.ConsoleSize; cs != nil && cs.Height != 0 && cs.Width != 0 {
		ws := &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)}
		if err := unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("process.consoleSize: %w", err)
		}
	}
	// The slave from the master itself (TIOCGPTPEER), never by its name:
	// whatever /dev/pts holds in this rootfs, the container gets the peer
	// of the master it sends, and /dev/console is bound from that fd.
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, uintptr(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC))
	if errno != 0 {
		return fmt.Errorf("process.terminal: open the peer of %s: %w", slavePath, errno)
	}
	slave := int(r)
	defer unix.Close(slave)
	if console {
		if err := consoleTarget(); err != nil {
			return fmt.Errorf("process.terminal: create /dev/console: %w", err)
		}
		if err := mount("/proc/self/fd/"+strconv.Itoa(slave), "/dev/console", "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("process.terminal: %w", err)
		}
	}
	if err := unix.Sendmsg(sock, []byte("/dev/ptmx"), unix.UnixRights(master), nil, unix.MSG_NOSIGNAL); err != nil {
		return fmt.Errorf("send pty master to the console socket: %w", err)
	}
	if uid := int(p.User.UID); uid != 0 {
		if err := unix.Fchown(slave, uid, -1); err != nil {
			return fmt.Errorf("process.terminal: give %s to uid %d: %w", slavePath, uid, err)
		}
	}
	if err := unix.IoctlSetInt(slave, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("process.terminal: make %s the controlling terminal: %w", slavePath, err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(slave, fd, 0); err != nil {
			return fmt.Errorf("process.terminal: set fd %d to %s: %w", fd, slavePath, err)
		}
	}
	return nil
}

// consoleTarget makes sure /dev/console exists as a mount point. An
// existing one (a device node in the rootfs, or the host's under a bound
// /dev) is left alone and never opened: opening a device has effects of
// its own (a tty opened without O_NOCTTY may become init's controlling
// terminal).
func consoleTarget() error {
	var st unix.Stat_t
	if err := unix.Lstat("/dev/console", &st); err == nil {
		return nil
	}
	fd, err := unix.Open("/dev/console", unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return err
	}
	return unix.Close(fd)
}
