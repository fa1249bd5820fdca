package registrytest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeExitedServer starts a "registry" that prints a message and
// exits: serve must report the exit with the output, not wait for the
// startup deadline.
func TestServeExitedServer(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "fake-registry")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho 'bad config: no storage' >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := serve(t, bin)
	if err == nil || !strings.Contains(err.Error(), "exited before answering") || !strings.Contains(err.Error(), "bad config: no storage") {
		t.Fatalf("serve = %v, want an exit error with the server's output", err)
	}
}

// TestStart runs the real server.
func TestStart(t *testing.T) {
	if Start(t) == "" {
		t.Fatal("no address")
	}
}
