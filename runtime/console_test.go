package runtime

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTYPair opens a host pty and its slave, both non-blocking (so Close
// interrupts a pending read), and closes them in t.Cleanup.
func openPTYPair(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, path, err := newPTY("/dev/ptmx")
	if err != nil {
		t.Skipf("needs a host pty: %v", err)
	}
	s, err := unix.Open(path, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		unix.Close(m)
		t.Fatal(err)
	}
	if err := unix.SetNonblock(m, true); err != nil {
		t.Fatal(err)
	}
	master, slave = os.NewFile(uintptr(m), "ptmx"), os.NewFile(uintptr(s), path)
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave
}

func setSize(t *testing.T, f *os.File, rows, cols uint16) {
	t.Helper()
	if err := unix.IoctlSetWinsize(rawFD(f), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
}

func canonical(t *testing.T, f *os.File) bool {
	t.Helper()
	tio, err := unix.IoctlGetTermios(rawFD(f), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ICANON != 0
}

// readUntil reads f until the text read contains want, for up to 10s.
func readUntil(t *testing.T, f *os.File, want string) {
	t.Helper()
	f.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []byte
	buf := make([]byte, 256)
	for !strings.Contains(string(got), want) {
		n, err := f.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read %q so far, want %q: %v", got, want, err)
		}
	}
}

// TestRelayConsole relays between two host ptys: the "user's terminal"
// (userSide: what lamina's stdin would be) and the "container's terminal"
// (ctrMaster is what init would send; ctrSlave is the container's side).
func TestRelayConsole(t *testing.T) {
	userMaster, userSide := openPTYPair(t)
	ctrMaster, ctrSlave := openPTYPair(t)
	setSize(t, userMaster, 40, 120)
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer outR.Close()
	defer outW.Close()

	relay, err := RelayConsole(ctrMaster, userSide, outW)
	if err != nil {
		t.Fatal(err)
	}
	if ws, err := unix.IoctlGetWinsize(rawFD(ctrSlave), unix.TIOCGWINSZ); err != nil || ws.Row != 40 || ws.Col != 120 {
		t.Errorf("container terminal size %+v (%v), want the user's 40x120", ws, err)
	}
	if canonical(t, userSide) {
		t.Error("the user's terminal is not in raw mode during the relay")
	}

	// Keys typed by the user reach the container; its output reaches out.
	if _, err := userMaster.Write([]byte("typed\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, ctrSlave, "typed\n")
	if _, err := ctrSlave.Write([]byte("printed\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, outR, "printed\r\n")

	// A window change follows the user's terminal on SIGWINCH.
	setSize(t, userMaster, 50, 130)
	unix.Kill(os.Getpid(), unix.SIGWINCH)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, err := unix.IoctlGetWinsize(rawFD(ctrSlave), unix.TIOCGWINSZ)
		if err == nil && ws.Row == 50 && ws.Col == 130 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("container terminal size %+v after SIGWINCH, want 50x130", ws)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The container closing its side ends the relay; the user's
	// terminal gets its mode back.
	ctrSlave.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := relay.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	if ctx.Err() != nil {
		t.Error("the relay did not see the container's side close")
	}
	if !canonical(t, userSide) {
		t.Error("the user's terminal mode was not restored")
	}
}

// TestReceiveConsoleRejects checks what ReceiveConsole refuses: a peer
// that closes without sending, and an fd that is not a pty master.
func TestReceiveConsoleRejects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		send func(t *testing.T, sock *os.File)
		want string
	}{
		{name: "closed without sending", send: func(t *testing.T, sock *os.File) {}, want: "closed without sending"},
		{name: "not a pty", send: func(t *testing.T, sock *os.File) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			if err := unix.Sendmsg(int(sock.Fd()), []byte("/dev/ptmx"), unix.UnixRights(int(r.Fd())), nil, 0); err != nil {
				t.Fatal(err)
			}
		}, want: "not a pty master"},
		{name: "no fd", send: func(t *testing.T, sock *os.File) { sock.Write([]byte("x")) }, want: "want one fd, got 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host, ctr, err := ConsolePair()
			if err != nil {
				t.Fatal(err)
			}
			defer host.Close()
			tc.send(t, ctr)
			ctr.Close()
			m, err := ReceiveConsole(ctx, host)
			if err == nil {
				m.Close()
				t.Fatal("ReceiveConsole accepted it")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want %q", err, tc.want)
			}
		})
	}
	t.Run("context", func(t *testing.T) {
		host, ctr, err := ConsolePair()
		if err != nil {
			t.Fatal(err)
		}
		defer host.Close()
		defer ctr.Close()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ReceiveConsole(ctx, host); err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("ReceiveConsole with a canceled context: %v", err)
		}
	})
}

// FuzzReceiveConsole sends arbitrary data with no fd, a pipe or a pty
// master: ReceiveConsole must accept the pty master and nothing else.
func FuzzReceiveConsole(f *testing.F) {
	f.Add([]byte("/dev/ptmx"), uint8(2))
	f.Add([]byte(""), uint8(2))
	f.Add([]byte("x"), uint8(0))
	f.Add([]byte("/dev/ptmx"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, kind uint8) {
		host, ctr, err := ConsolePair()
		if err != nil {
			t.Fatal(err)
		}
		defer host.Close()
		var rights []byte
		switch kind % 3 {
		case 1:
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			defer w.Close()
			rights = unix.UnixRights(int(r.Fd()))
		case 2:
			m, _, err := newPTY("/dev/ptmx")
			if err != nil {
				t.Skipf("needs a host pty: %v", err)
			}
			defer unix.Close(m)
			rights = unix.UnixRights(m)
		}
		if len(data) > 0 || rights != nil {
			if err := unix.Sendmsg(int(ctr.Fd()), data, rights, nil, 0); err != nil {
				ctr.Close()
				return // e.g. an empty message with rights: nothing to test
			}
		}
		ctr.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := ReceiveConsole(ctx, host)
		if (err == nil) != (kind%3 == 2) {
			t.Fatalf("kind %d: ReceiveConsole error %v", kind%3, err)
		}
		if m != nil {
			if m.Name() == "" {
				t.Error("the master has no name")
			}
			m.Close()
		}
	})
}
