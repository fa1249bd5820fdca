package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// The caller's side of a container terminal: receiving the pty master
// that init sends (ReceiveConsole, over a socket from ConsolePair or one
// accepted on a --console-socket listener) and relaying it to the
// caller's own terminal (RelayConsole), as "runc run" does in the
// foreground. Exec with a terminal uses the same pieces.

// ConsolePair returns a connected pair of unix stream sockets for a
// terminal relayed in this process: pass ctr to WithConsole, close it once
// Create returns, and receive the pty master from host with
// ReceiveConsole.
func ConsolePair() (host *net.UnixConn, ctr *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("create console socket pair: %w", err)
	}
	hf := os.NewFile(uintptr(fds[0]), "console-host")
	defer hf.Close()
	c, err := net.FileConn(hf)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, fmt.Errorf("create console socket pair: %w", err)
	}
	return c.(*net.UnixConn), os.NewFile(uintptr(fds[1]), "console-container"), nil
}

// ReceiveConsole reads one message carrying a pty master in SCM_RIGHTS
// from conn (what a container's init sends in terminal mode; runc's
// recvtty reads the same) and returns the master, named by the message's
// data. The fd is non-blocking, so Close interrupts a pending Read. ctx
// bounds the wait. It fails if the peer closes without sending, or sends
// anything but exactly one pty master.
func ReceiveConsole(ctx context.Context, conn *net.UnixConn) (*os.File, error) {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	name := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(name, oob)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, fmt.Errorf("receive pty master: %w", ctx.Err())
	case errors.Is(err, io.EOF):
		return nil, errors.New("receive pty master: the console socket closed without sending one")
	case err != nil:
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	var fds []int
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, fmt.Errorf("receive pty master: %w", err)
		}
		for i := range msgs {
			if got, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	if len(fds) != 1 || flags&unix.MSG_CTRUNC != 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receive pty master: want one fd, got %d", len(fds))
	}
	fd := fds[0]
	if _, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("receive pty master: the fd is not a pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("receive pty master: %w", err)
	}
	label := string(name[:n])
	if label == "" {
		label = "pty-master"
	}
	return os.NewFile(uintptr(fd), label), nil
}

// ConsoleRelay copies between a container's pty master and the caller's
// stdio. Its fields are set by RelayConsole and then only read, except
// err, which the output goroutine writes before closing outDone.
type ConsoleRelay struct {
	master     *os.File
	sizeFrom   int         // fd whose window size the master follows; -1 for none
	restore    *term.State // the caller's terminal mode before raw, nil if untouched
	inFD       int         // the fd restore applies to
	winch      chan os.Signal
	stopped    chan struct{} // closed by Close: ends the SIGWINCH goroutine
	followDone chan struct{} // closed when the SIGWINCH goroutine has ended
	outDone    chan struct{} // closed when the master→out copy has ended
	err        error         // the output copy's error (not EIO), valid after outDone
	closeOne   sync.Once
}

// RelayConsole starts relaying a container's terminal: it copies master to
// out, and in to master unless in is nil. When in is a terminal it is put
// in raw mode, so keys (^C included) reach the container's line
// discipline, until Close restores it. When in, or else out, is a
// terminal, the master takes its window size now and on every SIGWINCH
// this process receives. The relay owns master once it is started; Close
// closes it. On error nothing is started and master is the caller's.
//
// in and out must stay open until Close. The copy from in ends at EOF or
// when writing to master fails; a Read on in that blocks (a terminal
// nobody types on) keeps its goroutine until it returns.
func RelayConsole(master *os.File, in *os.File, out io.Writer) (*ConsoleRelay, error) {
	r := &ConsoleRelay{
		master: master, sizeFrom: -1, inFD: -1,
		stopped: make(chan struct{}), followDone: make(chan struct{}), outDone: make(chan struct{}),
	}
	if fd := rawFD(in); fd >= 0 && term.IsTerminal(fd) {
		st, err := term.MakeRaw(fd)
		if err != nil {
			return nil, fmt.Errorf("set terminal raw: %w", err)
		}
		r.sizeFrom, r.restore, r.inFD = fd, st, fd
	} else if f, ok := out.(*os.File); ok && term.IsTerminal(rawFD(f)) {
		r.sizeFrom = rawFD(f)
	}
	if r.sizeFrom >= 0 {
		r.resize()
		r.winch = make(chan os.Signal, 1)
		signal.Notify(r.winch, unix.SIGWINCH)
		go r.followSize()
	} else {
		close(r.followDone)
	}
	go func() {
		defer close(r.outDone)
		_, err := io.Copy(out, master)
		if err != nil && !errors.Is(err, unix.EIO) && !errors.Is(err, os.ErrClosed) {
			r.err = fmt.Errorf("copy terminal output: %w", err)
			// Keep reading, so that the container does not block on a
			// full terminal once out is gone.
			io.Copy(io.Discard, master)
		}
	}()
	if in != nil {
		go io.Copy(master, in)
	}
	return r, nil
}

// resize gives the master the window size of the caller's terminal.
// Errors are ignored: a size that cannot be read or set leaves the old
// one, which is all a relay can do.
func (r *ConsoleRelay) resize() {
	ws, err := unix.IoctlGetWinsize(r.sizeFrom, unix.TIOCGWINSZ)
	if err != nil || ws.Row == 0 || ws.Col == 0 {
		return
	}
	if rc, err := r.master.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) })
	}
}

// rawFD returns f's descriptor, or -1 for nil, without the side effect of
// os.File.Fd, which makes a non-blocking file blocking (and its pending
// reads no longer interruptible by Close).
func rawFD(f *os.File) int {
	fd := -1
	if f == nil {
		return fd
	}
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(u uintptr) { fd = int(u) })
	}
	return fd
}

func (r *ConsoleRelay) followSize() {
	defer close(r.followDone)
	for {
		select {
		case <-r.winch:
			r.resize()
		case <-r.stopped:
			return
		}
	}
}

// Close ends the relay. It waits until the container's side of the
// terminal is closed by all its processes (the output copy then reaches
// its end) or ctx is done, closes the master, and restores the caller's
// terminal. It returns the output copy's error, if any.
func (r *ConsoleRelay) Close(ctx context.Context) error {
	select {
	case <-r.outDone:
	case <-ctx.Done():
	}
	var err error
	r.closeOne.Do(func() {
		close(r.stopped)
		<-r.followDone
		if r.winch != nil {
			signal.Stop(r.winch)
		}
		r.master.Close()
		<-r.outDone
		if r.restore != nil {
			if rerr := term.Restore(r.inFD, r.restore); rerr != nil {
				err = fmt.Errorf("restore terminal: %w", rerr)
			}
		}
		err = errors.Join(r.err, err)
	})
	return err
}
