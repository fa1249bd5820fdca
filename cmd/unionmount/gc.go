package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The daemon's garbage collector policy. Requests allocate and keep
// little, so collections are the cost to keep down, but what the daemon
// keeps grows with the inodes the kernel holds (about 300 bytes each), and
// a fixed GOGC multiplies that: 400 lets a daemon holding a million
// inodes (300 MB) grow its heap to 1.5 GB. So the collector gets a fixed
// allowance of garbage, gcHeadroom, while the live heap is small (GOGC up
// to gcMaxPercent) and at least gcMinPercent of the live heap beyond.
const (
	gcHeadroom   = 64 << 20
	gcMaxPercent = 400
	gcMinPercent = 50
	gcEvery      = time.Second
)

// gcPercent is the GOGC for a live heap of live bytes.
func gcPercent(live uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	return int(min(max(100*gcHeadroom/live, gcMinPercent), gcMaxPercent))
}

// tuneGC sets GOGC from the live heap now and every gcEvery until ctx ends.
func tuneGC(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	want := func() int {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return gcMaxPercent
		}
		return gcPercent(sample[0].Value.Uint64())
	}
	cur := want()
	debug.SetGCPercent(cur)
	go func() {
		t := time.NewTicker(gcEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if p := want(); p != cur {
					debug.SetGCPercent(p)
					cur = p
				}
			}
		}
	}()
}
