package whiteout_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lamina-dev/lamina/whiteout"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		kind     whiteout.Kind
		target   string
		err      error
		isMarker bool
	}{
		{name: "plain", in: "foo", kind: whiteout.Normal, target: "foo"},
		{name: "dotfile", in: ".foo", kind: whiteout.Normal, target: ".foo"},
		{name: "almost marker", in: ".wh", kind: whiteout.Normal, target: ".wh"},
		{name: "almost marker 2", in: "wh.foo", kind: whiteout.Normal, target: "wh.foo"},
		{name: "empty", in: "", err: whiteout.ErrBadName},
		{name: "dot", in: ".", err: whiteout.ErrBadName},
		{name: "dotdot", in: "..", err: whiteout.ErrBadName},
		{name: "slash", in: "a/b", err: whiteout.ErrBadName},
		{name: "nul", in: "a\x00b", err: whiteout.ErrBadName},
		{name: "whiteout", in: ".wh.foo", kind: whiteout.Whiteout, target: "foo", isMarker: true},
		{name: "whiteout of dotfile", in: ".wh..foo", kind: whiteout.Whiteout, target: ".foo", isMarker: true},
		{name: "whiteout of dotdotfile", in: ".wh...foo", kind: whiteout.Whiteout, target: "..foo", isMarker: true},
		{name: "whiteout of .wh", in: ".wh..wh", kind: whiteout.Whiteout, target: ".wh", isMarker: true},
		{name: "whiteout of .whfoo", in: ".wh..whfoo", kind: whiteout.Whiteout, target: ".whfoo", isMarker: true},
		{name: "opaque", in: ".wh..wh..opq", kind: whiteout.Opaque, isMarker: true},
		{name: "plnk", in: ".wh..wh.plnk", kind: whiteout.Meta, isMarker: true},
		{name: "orph", in: ".wh..wh.orph", kind: whiteout.Meta, isMarker: true},
		{name: "bare meta prefix", in: ".wh..wh.", kind: whiteout.Meta, isMarker: true},
		{name: "opaque with suffix", in: ".wh..wh..opqx", kind: whiteout.Meta, isMarker: true},
		{name: "whiteout of empty", in: ".wh.", kind: whiteout.Whiteout, err: whiteout.ErrBadWhiteout, isMarker: true},
		{name: "whiteout of dot", in: ".wh..", kind: whiteout.Whiteout, err: whiteout.ErrBadWhiteout, isMarker: true},
		{name: "whiteout of dotdot", in: ".wh...", kind: whiteout.Whiteout, err: whiteout.ErrBadWhiteout, isMarker: true},
		{name: "whiteout with slash", in: ".wh.a/b", kind: whiteout.Meta, err: whiteout.ErrBadWhiteout, isMarker: true},
		{name: "meta with slash", in: ".wh..wh.a/b", kind: whiteout.Meta, err: whiteout.ErrBadWhiteout, isMarker: true},
		{name: "whiteout with nul", in: ".wh.a\x00", kind: whiteout.Meta, err: whiteout.ErrBadWhiteout, isMarker: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kind, target, err := whiteout.ParseName(tc.in)
			if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("ParseName(%q) error = %v, want %v", tc.in, err, tc.err)
			}
			if kind != tc.kind || target != tc.target {
				t.Errorf("ParseName(%q) = %v, %q; want %v, %q", tc.in, kind, target, tc.kind, tc.target)
			}
			if got := whiteout.IsMarkerName(tc.in); got != tc.isMarker {
				t.Errorf("IsMarkerName(%q) = %v, want %v", tc.in, got, tc.isMarker)
			}
		})
	}
}

func TestWhiteoutName(t *testing.T) {
	for _, n := range []string{"a", ".a", "..a", "a b", strings.Repeat("x", 251)} {
		w := whiteout.WhiteoutName(n)
		kind, target, err := whiteout.ParseName(w)
		if err != nil || kind != whiteout.Whiteout || target != n {
			t.Errorf("ParseName(WhiteoutName(%q)) = %v, %q, %v", n, kind, target, err)
		}
	}
}

func TestIsPrivateXattr(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want bool
	}{
		{"trusted overlay opaque", "trusted.overlay.opaque", true},
		{"trusted overlay any", "trusted.overlay.origin", true},
		{"user overlay", "user.overlay.whiteout", true},
		{"fuse-overlayfs", "user.fuseoverlayfs.opaque", true},
		{"lamina trusted", "trusted.lamina.origin", true},
		{"lamina user", "user.lamina.origin", true},
		{"plain user", "user.mime_type", false},
		{"security", "security.capability", false},
		{"acl", "system.posix_acl_access", false},
		{"prefix without dot", "user.overlayfoo", false},
		{"trusted other", "trusted.foo", false},
		{"empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := whiteout.IsPrivateXattr(tc.in); got != tc.want {
				t.Errorf("IsPrivateXattr(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"", ".", "..", "a", ".wh.", ".wh..", ".wh...", ".wh.a",
		".wh..wh..opq", ".wh..wh.plnk", ".wh.a/b", "a/b", ".wh..wh.", ".wh.\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		kind, target, err := whiteout.ParseName(name)
		if whiteout.IsMarkerName(name) != (kind != whiteout.Normal) {
			t.Fatalf("ParseName(%q) kind %v disagrees with IsMarkerName", name, kind)
		}
		if err != nil {
			if target != "" {
				t.Fatalf("ParseName(%q) = %q with error %v", name, target, err)
			}
			return
		}
		switch kind {
		case whiteout.Normal:
			if target != name {
				t.Fatalf("ParseName(%q) Normal target %q", name, target)
			}
			// Every valid ordinary name can be whited out and read back.
			k2, t2, err := whiteout.ParseName(whiteout.WhiteoutName(name))
			if err != nil || k2 != whiteout.Whiteout || t2 != name {
				t.Fatalf("round trip of %q: %v %q %v", name, k2, t2, err)
			}
			fallthrough
		case whiteout.Whiteout:
			if target == "" || target == "." || target == ".." ||
				strings.ContainsAny(target, "/\x00") {
				t.Fatalf("ParseName(%q) returned bad target %q", name, target)
			}
			if kind == whiteout.Whiteout && whiteout.WhiteoutName(target) != name {
				t.Fatalf("ParseName(%q) target %q does not round trip", name, target)
			}
		case whiteout.Opaque, whiteout.Meta:
			if target != "" {
				t.Fatalf("ParseName(%q) %v with target %q", name, kind, target)
			}
		}
	})
}
