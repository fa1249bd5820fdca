// Package registrytest runs a real registry server for tests: Debian's
// docker-registry (the distribution project's registry), on a free
// loopback port, with its storage in a temporary directory, for the
// lifetime of one test. It is the real-server counterpart of
// go-containerregistry's in-memory pkg/registry.
package registrytest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Binary is where Debian's docker-registry package installs the server.
const Binary = "/usr/bin/docker-registry"

// Start runs the registry until the test ends and returns its host:port.
// It skips the test when the server is not installed, and fails it at once,
// with the server's output, when the server exits before answering.
func Start(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		t.Skip("docker-registry is not installed (scripts/setup.sh installs it)")
	}
	addr, err := serve(t, Binary)
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// serve runs bin as a registry on a free loopback port until the test ends.
func serve(t testing.TB, bin string) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("start registry: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		return "", fmt.Errorf("start registry: %w", err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start registry: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	deadline := time.After(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			return addr, nil
		}
		select {
		case werr := <-exited:
			exited <- werr // for the cleanup
			return "", fmt.Errorf("start registry: %s exited before answering (%v):\n%s", bin, werr, logs.String())
		case <-deadline:
			return "", fmt.Errorf("start registry: %s did not answer in 10s: %v\n%s", bin, err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// syncBuffer collects the server's output; it is written by exec's copying
// goroutines while the test may read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
