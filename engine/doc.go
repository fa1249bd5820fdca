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
//     image-spec's conversion.md), then the caller's options;
//   - container.log: a detached container's stdout and stderr (RunOptions.Log).
//
// The record (store.Container) also holds what List shows: the creation
// time, the process args ("command") and, once the container has exited,
// its exit status and time ("exit").
//
// # Who waits for a container
//
// Only the parent of a container's init can learn its exit status (the
// runtime's Container.Wait); a pidfd of a process that is not one's child
// tells only that it exited. So the process that called Start waits: the
// foreground "lamina run", or for "lamina run -d" a supervisor, lamina
// re-executed in its own session (cmd/lamina, like conmon for podman),
// which starts the container, reports its name to the caller and waits.
// That waiter calls Running.Wait, which records the exit in the store
// record, then Finish, which deletes the runtime container and unmounts
// the union. The writable layer, the record and the log stay until Remove.
//
// The waiter holds an exclusive flock(2) on the container's store
// directory, containers/<id>/, from just after the union is mounted until
// Finish; the kernel drops it if the waiter dies. Stop, Remove and Logs
// probe it (LOCK_SH|LOCK_NB) to know when the exit is recorded, polling
// every 20 ms (Stop, Remove) or 100 ms (Logs with follow). A container
// whose waiter was killed keeps running; when it exits nobody records it,
// and List shows it exited with no status.
//
// # Companions
//
// List derives each container's state from the runtime while it knows the
// container (created, running), else from the recorded exit. Stop sends
// the image's StopSignal (default SIGTERM), waits up to its timeout, then
// SIGKILLs, and returns once the waiter has let go. Logs copies
// container.log, and with follow keeps copying until the waiter lets go.
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
