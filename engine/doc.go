// Package engine runs containers from images, docker-style. It composes
// the three parts lamina keeps apart: the image store (oci/store and
// oci/pull), the union mount (the unionmount binary) and the OCI runtime
// (runtime). The runtime knows nothing of images or unions, and the store
// nothing of processes; only this package and cmd join them.
//
// # Model
//
// A container made by Run is a store record (store.Container) plus a
// runtime container of the same name. Its files live in the store, under
// containers/<id>/:
//
//   - upper/ and work/: its writable layer, which persists until the
//     container is removed (Remove, or Run with Remove set);
//   - rootfs/: the union mountpoint of the image's layers and upper/,
//     mounted by the unionmount binary (a daemon for the FUSE driver, so
//     the mount outlives a detached lamina run);
//   - bundle/config.json: the runtime bundle, built from runtime's default
//     spec, then the image config (oci.ApplyImageConfig, which follows
//     image-spec's conversion.md), then the caller's options.
//
// The union is mounted for as long as the container runs: Run unmounts it
// when the container exits (a detached run leaves that to Remove).
//
// With RunOptions.Terminal the container gets a pty (runtime terminal
// mode, over a runtime.ConsolePair): Start receives the master before it
// starts the process and hands it out as Running.Console, for the caller
// to relay (runtime.RelayConsole).
//
// # Errors
//
// Errors wrap the store's, the puller's and the runtime's sentinels
// (oci.ErrNotFound, runtime.ErrExist, ...), prefixed with what failed.
package engine
