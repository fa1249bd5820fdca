package bench

import (
	"strings"
	"testing"
)

func TestParseMountinfoLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want mountEntry
		ok   bool
	}{
		{
			"fuse with optional fields",
			"120 30 0:52 / /var/tmp/lamina-bench/inst/fuse-overlayfs/mnt rw,nosuid,nodev,relatime shared:70 - fuse.fuse-overlayfs fuse-overlayfs rw,user_id=0",
			mountEntry{0, 52, "/var/tmp/lamina-bench/inst/fuse-overlayfs/mnt", "fuse.fuse-overlayfs"}, true,
		},
		{
			"escaped space",
			`121 30 0:53 / /mnt/with\040space rw - overlay overlay rw,lowerdir=/a`,
			mountEntry{0, 53, "/mnt/with space", "overlay"}, true,
		},
		{"short", "1 2 3", mountEntry{}, false},
		{"bad device", "1 2 x / /mnt rw - ext4 /dev/vda rw", mountEntry{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseMountinfoLine(tc.line)
			if ok != tc.ok || got != tc.want {
				t.Errorf("parseMountinfoLine = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestMirrorFrom(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"deb822 skips security", `Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
# comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
`, "http://mirror.example/debian"},
		{"one-line with options", "# x\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n", "http://m.example/debian"},
		{"nothing for bookworm", "deb http://m.example/debian trixie main\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := mirrorFrom(strings.NewReader(tc.in)); got != tc.want {
				t.Errorf("mirrorFrom = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCountCPUList(t *testing.T) {
	cases := []struct {
		name, in string
		want     int
	}{
		{name: "one", in: "0", want: 1},
		{name: "range", in: "0-3", want: 4},
		{name: "ranges and singles", in: "0-1,4,6-7", want: 5},
		{name: "empty", in: "", want: 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := countCPUList(c.in); got != c.want {
				t.Errorf("countCPUList(%q) = %d, want %d", c.in, got, c.want)
			}
		})
	}
}
