package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/term"
)

// ttyDrain bounds how long lamina waits, after the container's process
// has exited, for the last output of its terminal (a process that
// outlives it may hold the terminal open).
const ttyDrain = 2 * time.Second

// foregroundTTY is a container terminal relayed to lamina's own stdio, as
// "runc run" does in the foreground: a socket pair instead of a console
// socket, the pty master received from init, then RelayConsole. Exec with
// --tty uses it the same way.
type foregroundTTY struct {
	host *net.UnixConn // receives the master
	ctr  *os.File      // init's end, for WithConsole; closed by received
}

func newForegroundTTY() (*foregroundTTY, error) {
	host, ctr, err := runtime.ConsolePair()
	if err != nil {
		return nil, err
	}
	return &foregroundTTY{host: host, ctr: ctr}, nil
}

// option is the CreateOption handing init its end of the pair.
func (t *foregroundTTY) option() runtime.CreateOption { return runtime.WithConsole(t.ctr) }

// relay receives the master (call it once the container is created) and
// starts relaying it to lamina's stdout and, with stdin, from its stdin.
// The returned stop ends the relay; call it after the container's process
// has exited.
func (t *foregroundTTY) relay(ctx context.Context, stdin bool) (stop func(), err error) {
	t.ctr.Close()
	master, err := runtime.ReceiveConsole(ctx, t.host)
	if err != nil {
		return nil, err
	}
	return relayTTY(master, stdin)
}

// close releases the socket pair.
func (t *foregroundTTY) close() { t.host.Close(); t.ctr.Close() }

// relayTTY relays a pty master to lamina's stdout and, with stdin, from
// lamina's stdin (put in raw mode when it is a terminal). stop waits up to
// ttyDrain for the container's last output and restores the terminal.
func relayTTY(master *os.File, stdin bool) (stop func(), err error) {
	var in *os.File
	if stdin {
		in = os.Stdin
	}
	relay, err := runtime.RelayConsole(master, in, os.Stdout)
	if err != nil {
		master.Close()
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), ttyDrain)
		defer cancel()
		if err := relay.Close(ctx); err != nil {
			slog.Warn("relay terminal", "err", err)
		}
	}, nil
}

// consoleHint adds the flag to use to the errors of a config and a
// --console-socket that disagree.
func consoleHint(err error) error {
	switch {
	case errors.Is(err, runtime.ErrNoConsoleSocket):
		return fmt.Errorf("%w: pass --console-socket PATH, or run it in the foreground (no --detach)", err)
	case errors.Is(err, runtime.ErrNoTerminal):
		return fmt.Errorf("--console-socket: %w", err)
	}
	return err
}

// terminalSize is the window size of lamina's stdin, or else its stdout,
// when one is a terminal; nil otherwise.
func terminalSize() *specs.Box {
	for _, f := range []*os.File{os.Stdin, os.Stdout} {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 0 && h > 0 {
			return &specs.Box{Height: uint(h), Width: uint(w)}
		}
	}
	return nil
}
