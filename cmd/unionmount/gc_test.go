package main

import "testing"

func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name string
		live uint64
		want int
	}{
		{"unknown", 0, gcMaxPercent},
		{"small heap gets the most", 4 * mib, gcMaxPercent},
		{"at the headroom's quarter", 16 * mib, 400},
		{"headroom over the live heap", 32 * mib, 200},
		{"live heap the size of the headroom", 64 * mib, 100},
		{"large heap keeps the minimum", 1024 * mib, gcMinPercent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := gcPercent(tt.live); got != tt.want {
				t.Errorf("gcPercent(%d MiB) = %d, want %d", tt.live/mib, got, tt.want)
			}
		})
	}
}
