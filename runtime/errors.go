package runtime

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrNotExist: no container with that ID under the root.
	ErrNotExist = errors.New("container does not exist")
	// ErrExist: Create was given an ID that is already in use.
	ErrExist = errors.New("container already exists")
	// ErrInvalidID: the ID is empty, longer than 1000 bytes, or has characters other
	// than [A-Za-z0-9_.+-] (or starts with one of "_.+-").
	ErrInvalidID = errors.New("invalid container ID")
	// ErrNotCreated: Start was called on a container that is not in the
	// created state (already started, or stopped).
	ErrNotCreated = errors.New("container is not in the created state")
	// ErrNotRunning: Kill was called on a stopped container, or Pause on
	// one that is not running.
	ErrNotRunning = errors.New("container is not running")
	// ErrNotPaused: Resume was called on a container that is not paused.
	ErrNotPaused = errors.New("container is not paused")
	// ErrNoCgroup: the container has no cgroup of its own, because the
	// caller is rootless and no cgroup is delegated to it: resource limits
	// cannot be applied, and Pause, Resume, Update and KillAll cannot work.
	ErrNoCgroup = errors.New("no cgroup: rootless without a cgroup delegated to this user (systemd's Delegate=yes, or a cgroup directory chowned to you)")
	// ErrRunning: Delete without force was called on a running container.
	ErrRunning = errors.New("container is running (use force)")
	// ErrUnsupported: the config asks for a feature this runtime does not
	// implement yet. It is always wrapped in a *ConfigError naming the
	// field; lamina never ignores such a request silently.
	ErrUnsupported = errors.New("not supported yet")
	// ErrNoConsoleSocket: process.terminal is true but Create got no
	// console socket to send the pty master to (runc refuses the same).
	ErrNoConsoleSocket = errors.New("cannot allocate a terminal without a console socket to send its master to")
	// ErrNoTerminal: Create got a console socket but process.terminal is
	// false.
	ErrNoTerminal = errors.New(`cannot use a console socket without a terminal ("terminal": true)`)
)

// ConfigError reports a problem with one field of config.json. Field uses
// the JSON spelling of the runtime spec, for example "root.path" or
// "linux.namespaces[2].type".
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return fmt.Sprintf("config.json: %s: %v", e.Field, e.Err) }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(field, format string, args ...any) error {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, args...)}
}

func unsupported(field, what string) error {
	return &ConfigError{Field: field, Err: fmt.Errorf("%s is %w", what, ErrUnsupported)}
}
