package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// File names inside a container's state directory (see the package doc).
const (
	stateFile = "state.json"
	fifoFile  = "exec.fifo"
)

// State is what "lamina state" prints: the runtime-spec state plus the
// fields runc adds (rootfs, created, owner).
type State struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

// record is the content of state.json. Status is never stored: it is
// derived from the init process every time (see status).
type record struct {
	State
	// InitStartTime is field 22 of /proc/PID/stat of the init process
	// (clock ticks since boot). A pid whose start time differs was reused.
	InitStartTime uint64 `json:"initStartTime"`
	// CgroupPaths maps a v1 controller name (or "" for the v2 unified
	// hierarchy) to the absolute cgroup directory created for the container.
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	// Hooks are config.json's hooks at Create: Start runs poststart and
	// Delete poststop from here, not from a config.json edited since.
	Hooks *specs.Hooks `json:"hooks,omitempty"`
	// Seccomp is config.json's linux.seccomp at Create: Exec loads it
	// for every process it starts, whatever the bundle says since.
	Seccomp *specs.LinuxSeccomp `json:"seccomp,omitempty"`
	// Process is config.json's process at Create: the base of a process
	// "lamina exec" starts with flags.
	Process *specs.Process `json:"process,omitempty"`
}

// checkID accepts 1 to 1000 bytes of [A-Za-z0-9_.+-], not starting with
// one of "_.+-" (so never "." or "..").
func checkID(id string) error {
	ok := len(id) > 0 && len(id) <= 1000
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		ok = alnum || i > 0 && strings.IndexByte("_.+-", c) >= 0
	}
	if !ok {
		return fmt.Errorf("%w: %q", ErrInvalidID, id)
	}
	return nil
}

// Runtime manages the containers whose state lives under one root
// directory. The zero value is not usable; use New.
type Runtime struct {
	root string
	warn func(error)
}

// Option changes a Runtime.
type Option func(*Runtime)

// WithWarnFunc makes the Runtime report problems that do not fail an
// operation (a failing poststop hook, as a *HookError) to warn. The
// default discards them: the library never logs.
func WithWarnFunc(warn func(error)) Option { return func(r *Runtime) { r.warn = warn } }

// New returns a Runtime keeping state under root. An empty root means
// DefaultRoot(). The directory is created (mode 0700) when needed.
func New(root string, opts ...Option) (*Runtime, error) {
	r := &Runtime{warn: func(error) {}}
	for _, o := range opts {
		o(r)
	}
	if root == "" {
		root = DefaultRoot()
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolve root %s: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("create root: %w", err)
	}
	r.root = abs
	return r, nil
}

// DefaultRoot is /run/lamina for root, and $XDG_RUNTIME_DIR/lamina (or
// /tmp/lamina-UID without it) otherwise, also for root of a user namespace
// (see Rootless).
func DefaultRoot() string {
	if !Rootless() {
		return "/run/lamina"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "lamina")
	}
	return fmt.Sprintf("/tmp/lamina-%d", os.Geteuid())
}

// Root returns the state root directory.
func (r *Runtime) Root() string { return r.root }

func (r *Runtime) dir(id string) string { return filepath.Join(r.root, id) }

// lockedDir is an open, flock-ed container state directory.
type lockedDir struct {
	path string
	f    *os.File
}

// lock opens the state directory of id and takes a shared or exclusive
// flock on it. It returns ErrNotExist when the directory is gone or has no
// state.json yet (a concurrent Create that has not finished, or a
// concurrent Delete that won the race).
func (r *Runtime) lock(id string, exclusive bool) (*lockedDir, *record, error) {
	if err := checkID(id); err != nil {
		return nil, nil, err
	}
	p := r.dir(id)
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w: %s", ErrNotExist, id)
		}
		return nil, nil, fmt.Errorf("open state dir: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("lock state dir: %w", err)
	}
	l := &lockedDir{path: p, f: f}
	rec, err := readRecord(p)
	if err != nil {
		l.unlock()
		return nil, nil, err
	}
	return l, rec, nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

func (l *lockedDir) unlock() { l.f.Close() }

func readRecord(dir string) (*record, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotExist, filepath.Base(dir))
		}
		return nil, fmt.Errorf("read state: %w", err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &rec, nil
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it over path, so readers see the old or the new content, never a part.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func writeRecord(dir string, rec *record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b, 0o600)
}

// procStat returns the state letter (field 3) and start time (field 22)
// of /proc/PID/stat.
func procStat(pid int) (byte, uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may contain
	// anything, so split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return fields[0][0], start, nil
}

// alive reports whether the init process recorded in rec still exists and
// is not a zombie. A reused pid (different start time) counts as dead.
func (rec *record) alive() bool {
	if rec.Pid <= 0 {
		return false
	}
	st, start, err := procStat(rec.Pid)
	if err != nil {
		return false
	}
	return start == rec.InitStartTime && st != 'Z' && st != 'X'
}

// status derives the container status: stopped when init is gone, created
// while exec.fifo exists (init is still blocked on it), paused while the
// cgroup is frozen (see Pause), running otherwise.
func (rec *record) status(dir string) specs.ContainerState {
	if !rec.alive() {
		return specs.StateStopped
	}
	if _, err := os.Lstat(filepath.Join(dir, fifoFile)); err == nil {
		return specs.StateCreated
	}
	if rec.frozen() {
		return StatePaused
	}
	return specs.StateRunning
}

func (rec *record) publicState(dir string) *State {
	s := rec.State
	s.Status = rec.status(dir)
	if s.Status == specs.StateStopped {
		s.Pid = 0
	}
	return &s
}

// State returns the current state of container id.
func (r *Runtime) State(id string) (*State, error) {
	l, rec, err := r.lock(id, false)
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	return rec.publicState(l.path), nil
}

// List returns the state of every container under the root, sorted by ID.
// Containers being created or deleted concurrently are left out.
func (r *Runtime) List() ([]*State, error) {
	ents, err := os.ReadDir(r.root)
	if err != nil {
		return nil, fmt.Errorf("read root: %w", err)
	}
	var out []*State
	for _, e := range ents {
		if !e.IsDir() || checkID(e.Name()) != nil {
			continue
		}
		s, err := r.State(e.Name())
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
