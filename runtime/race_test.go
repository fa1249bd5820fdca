//go:build race

package runtime_test

// raceEnabled: the race detector makes the Go init much bigger, too big
// for the small memory limit of the OOM test.
const raceEnabled = true
