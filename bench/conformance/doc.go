// Package conformance runs the OCI runtime-tools validation suite
// (github.com/opencontainers/runtime-tools, its validation/ directory)
// against lamina and against runc, and reports the two side by side.
//
// # Model
//
// The suite is one Go program per feature ("state", "mounts",
// "linux_rootfs_propagation", ...). Each program writes a bundle (a busybox
// rootfs from the module's rootfs-amd64.tar.gz and a config.json) under
// $TMPDIR, calls the runtime named by $RUNTIME with runc's command line,
// often runs the suite's runtimetest binary inside the container, and
// prints TAP on stdout.
//
// Build fetches the pinned module version (RuntimeToolsVersion) through
// the Go module proxy ("go mod download"), copies it into a scratch
// directory, drops its (empty) vendor directory and builds runtimetest
// (static) and every validation program there. Nothing of runtime-tools
// is kept in this repository.
//
// Run executes one program against one runtime:
//
//   - $RUNTIME is a two-line shell script that adds "--root DIR" with a
//     state directory of its own, so the run never sees or touches the
//     machine's other containers, and afterwards every container left in
//     DIR is deleted with "delete --force";
//   - the program runs in a mount namespace of its own (rprivate), so a
//     runtime that mounts in the caller's namespace (runc does, for a
//     config without a mount namespace) leaks nothing to the host;
//   - $TMPDIR is a directory of its own, removed afterwards (the programs
//     leave bundles behind when they fail);
//   - a timeout kills the program's process group;
//   - at the end, RemoveSuiteCgroups removes the parent cgroups the
//     cgroup programs' paths made ("/cgrouptest", "testdir/cgrouptest"),
//     which no runtime removes.
//
// # Verdicts
//
// The programs report in several ways: "not ok" lines, a YAML diagnostic
// with an "error" that follows no test line (the hooks programs print
// only that, with a plan of 1..0), or a non-zero exit (util.Fatal). Parse
// counts them; Verdict is "fail" when any is present, "skip" when every
// test line is a skip, and "pass" otherwise (a program that prints
// nothing and exits 0, as process_rlimits_fail on success, passes).
package conformance
