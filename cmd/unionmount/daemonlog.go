package main

import (
	"os"
	"path/filepath"
)

// logEnv names the daemon child's log file, for the child to remove it
// when it ends with nothing in it.
const logEnv = "LAMINA_UNIONMOUNT_LOG"

// openDaemonLog creates the file a daemon child's standard error goes to,
// so that its errors and the trace of a crash (Go writes those to
// standard error) are kept: /run/lamina as root, $XDG_RUNTIME_DIR/lamina
// otherwise, "unionmount-*.log". It returns nil when there is no such
// place; the child then writes to /dev/null, as before.
func openDaemonLog() *os.File {
	dir := "/run/lamina"
	if os.Geteuid() != 0 {
		rt := os.Getenv("XDG_RUNTIME_DIR")
		if rt == "" {
			return nil
		}
		dir = filepath.Join(rt, "lamina")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil
	}
	f, err := os.CreateTemp(dir, "unionmount-*.log")
	if err != nil {
		return nil
	}
	return f
}

// removeEmptyLog removes this daemon's log file (its standard error, named
// by logEnv) if nothing was written to it: a daemon that ends cleanly
// leaves nothing behind.
func removeEmptyLog() { removeIfEmpty(os.Stderr, os.Getenv(logEnv)) }

// removeIfEmpty removes the file at path if it is f and f is empty.
func removeIfEmpty(f *os.File, path string) {
	if path == "" {
		return
	}
	if fi, err := f.Stat(); err == nil && fi.Size() == 0 {
		if pfi, err := os.Stat(path); err == nil && os.SameFile(fi, pfi) {
			os.Remove(path)
		}
	}
}
