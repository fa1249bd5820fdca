// Command lamina runs containers from layered images: an OCI runtime with
// runc's command line, an image store, and lazily pulled union mounts.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lamina-dev/lamina/runtime"
)

func main() {
	if runtime.IsInit() {
		// A container's init (runtime.Create re-executes this binary):
		// straight to runtime.Init, without building the command tree.
		err := runtime.Init()
		fmt.Fprintf(os.Stderr, "lamina: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
