package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Hook kinds, spelled as the runtime-spec's JSON field names.
const (
	hookPrestart        = "prestart"
	hookCreateRuntime   = "createRuntime"
	hookCreateContainer = "createContainer"
	hookStartContainer  = "startContainer"
	hookPoststart       = "poststart"
	hookPoststop        = "poststop"
)

// hookKinds lists every hook kind this runtime runs ("lamina features").
var hookKinds = []string{hookPrestart, hookCreateRuntime, hookCreateContainer, hookStartContainer, hookPoststart, hookPoststop}

// ErrHookTimeout is wrapped by a *HookError when a hook ran longer than
// its timeout and was killed.
var ErrHookTimeout = errors.New("timed out")

// HookError reports a hook that could not be started, failed or timed
// out. Kind is the runtime-spec name ("createRuntime"), Index its
// position in that list. Failures of prestart, createRuntime,
// createContainer, startContainer and poststart are returned as errors;
// failures of poststop are delivered to the WithWarnFunc callback.
type HookError struct {
	Kind  string
	Index int
	Path  string
	Err   error
	// Output is the tail of what the hook wrote to stdout and stderr.
	Output string
}

func (e *HookError) Error() string {
	s := fmt.Sprintf("hooks.%s[%d] %s: %v", e.Kind, e.Index, e.Path, e.Err)
	if e.Output != "" {
		s += ": " + e.Output
	}
	return s
}

func (e *HookError) Unwrap() error { return e.Err }

// hookOutputTail is how much of a failing hook's output its error shows.
const hookOutputTail = 512

// hooksOf returns the hooks of one kind; prestart is the deprecated
// alias run right before createRuntime.
func hooksOf(h *specs.Hooks, kind string) []specs.Hook {
	if h == nil {
		return nil
	}
	switch kind {
	case hookPrestart:
		return h.Prestart
	case hookCreateRuntime:
		return h.CreateRuntime
	case hookCreateContainer:
		return h.CreateContainer
	case hookStartContainer:
		return h.StartContainer
	case hookPoststart:
		return h.Poststart
	case hookPoststop:
		return h.Poststop
	}
	return nil
}

// runHooks runs the hooks of the given kinds in order, each with st (its
// Status set to status) as JSON on stdin, and stops at the first failure,
// which it returns as a *HookError.
func runHooks(ctx context.Context, h *specs.Hooks, st specs.State, status specs.ContainerState, kinds ...string) error {
	st.Status = status
	in, err := json.Marshal(&st)
	if err != nil {
		return fmt.Errorf("encode hook state: %w", err)
	}
	for _, kind := range kinds {
		for i, hook := range hooksOf(h, kind) {
			if err := runHook(ctx, hook, in); err != nil {
				err.Kind, err.Index = kind, i
				return err
			}
		}
	}
	return nil
}

// warnHooks runs every hook of kind, delivering each failure to warn:
// poststop failures do not change the lifecycle.
func warnHooks(ctx context.Context, h *specs.Hooks, st specs.State, status specs.ContainerState, kind string, warn func(error)) {
	st.Status = status
	in, err := json.Marshal(&st)
	if err != nil {
		warn(fmt.Errorf("encode hook state: %w", err))
		return
	}
	for i, hook := range hooksOf(h, kind) {
		if err := runHook(ctx, hook, in); err != nil {
			err.Kind, err.Index = kind, i
			warn(err)
		}
	}
}

// runHook runs one hook: path with args (argv, args[0] included; just
// path when empty) and exactly env as its environment, state on stdin,
// in its own process group so that a timeout kills the whole group.
func runHook(parent context.Context, h specs.Hook, state []byte) *HookError {
	ctx := parent
	if h.Timeout != nil && *h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	args := h.Args
	if len(args) == 0 {
		args = []string{h.Path}
	}
	var out tailBuffer
	cmd := exec.CommandContext(ctx, h.Path)
	cmd.Args = args
	cmd.Env = append([]string{}, h.Env...)
	cmd.Stdin = bytes.NewReader(state)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A killed hook's children may keep the output pipe open.
	cmd.WaitDelay = time.Second
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	err := cmd.Run()
	if err == nil {
		return nil
	}
	switch {
	case parent.Err() != nil:
		err = fmt.Errorf("run hook: %w", parent.Err())
	case ctx.Err() != nil: // only the hook's own timeout cancels ctx alone
		err = fmt.Errorf("%w after %ds (killed)", ErrHookTimeout, *h.Timeout)
	}
	return &HookError{Path: h.Path, Err: err, Output: out.tail()}
}

// tailBuffer keeps the last hookOutputTail bytes written to it. os/exec
// copies stdout and stderr from one goroutine when both are the same
// writer, so it needs no lock.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*hookOutputTail {
		t.b = append(t.b[:0], t.b[len(t.b)-hookOutputTail:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) tail() string {
	b := t.b
	if len(b) > hookOutputTail {
		b = b[len(b)-hookOutputTail:]
	}
	return strings.TrimSpace(string(b))
}

// validateHooks checks every hook: an absolute path, a positive timeout
// when one is set.
func validateHooks(h *specs.Hooks) error {
	for _, kind := range hookKinds {
		for i, hook := range hooksOf(h, kind) {
			f := fmt.Sprintf("hooks.%s[%d]", kind, i)
			if !strings.HasPrefix(hook.Path, "/") {
				return configErrorf(f+".path", "must be an absolute path, got %q", hook.Path)
			}
			if hook.Timeout != nil && *hook.Timeout <= 0 {
				return configErrorf(f+".timeout", "must be positive, got %d", *hook.Timeout)
			}
		}
	}
	return nil
}

// hasHooks reports whether h has any hook of the given kinds.
func hasHooks(h *specs.Hooks, kinds ...string) bool {
	for _, k := range kinds {
		if len(hooksOf(h, k)) > 0 {
			return true
		}
	}
	return false
}
