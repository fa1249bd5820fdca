package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profileEnv names a file the FUSE daemon writes a CPU profile to, from
// mount until unmount. It is for measuring lamina, so it is documented here
// and in the README's benchmark notes, not in --help:
//
//	LAMINA_CPUPROFILE=/tmp/um.prof unionmount -o ... MNT
//	(workload; unionmount --unmount MNT)
//	go tool pprof bin/unionmount /tmp/um.prof
const profileEnv = "LAMINA_CPUPROFILE"

// startProfile starts the CPU profile $LAMINA_CPUPROFILE asks for and
// returns the function that stops it; without the variable it does nothing.
func startProfile() (stop func(), err error) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", profileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", profileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
