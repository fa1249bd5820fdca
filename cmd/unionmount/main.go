// Command unionmount mounts a union of directories with lamina's FUSE
// daemon or kernel overlayfs. It is a drop-in for fuse-overlayfs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}
