package runtime

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestRunHookCancel checks that a hook without a timeout is killed when
// the caller's context ends, and that the error says so (not a timeout).
func TestRunHookCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := runHook(ctx, specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "sleep 30"}}, nil)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrHookTimeout) ||
		!strings.HasPrefix(err.Error(), "hooks.[0] /bin/sh: run hook:") {
		t.Fatalf("runHook: %v, want the caller's deadline", err)
	}
}
