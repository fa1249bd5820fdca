package unionfs

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseMountOptions(t *testing.T) {
	cases := []struct {
		name     string
		in       []string
		lowers   []string
		upper    string
		fuseOnly []string
		ro       bool
		err      string
	}{
		{name: "lowers only", in: []string{"lowerdir=/a:/b"}, lowers: []string{"/a", "/b"}},
		{name: "full", in: []string{"lowerdir=/l,upperdir=/u,workdir=/w"}, lowers: []string{"/l"}, upper: "/u"},
		{name: "repeated -o", in: []string{"lowerdir=/l", "upperdir=/u,workdir=/w"}, lowers: []string{"/l"}, upper: "/u"},
		{name: "escaped colon and comma", in: []string{`lowerdir=/a\:b:/c\,d`}, lowers: []string{"/a:b", "/c,d"}},
		{name: "id mapping is FUSE-only", in: []string{"lowerdir=/l,uidmapping=0:1000:1,gidmapping=0:1000:1"},
			lowers: []string{"/l"}, fuseOnly: []string{"uidmapping", "gidmapping"}},
		{name: "squash", in: []string{"lowerdir=/l,squash_to_root"}, lowers: []string{"/l"}, fuseOnly: []string{"squash_to_root"}},
		{name: "ignored fuse-overlayfs options", in: []string{"lowerdir=/l,xattr_permissions=2,nodev,nosuid,x-systemd.automount"}, lowers: []string{"/l"}},
		{name: "noacl", in: []string{"lowerdir=/l,noacl"}, lowers: []string{"/l"}},
		{name: "redirect_dir", in: []string{"lowerdir=/l,redirect_dir=on"}, lowers: []string{"/l"}},
		{name: "redirect_dir nofollow", in: []string{"lowerdir=/l,redirect_dir=nofollow"}, lowers: []string{"/l"}},
		{name: "bad redirect_dir", in: []string{"lowerdir=/l,redirect_dir=yes"}, err: "want on, follow, off or nofollow"},
		{name: "ro", in: []string{"lowerdir=/l,ro"}, lowers: []string{"/l"}, ro: true},
		{name: "driver option", in: []string{"lowerdir=/l,driver=fuse"}, lowers: []string{"/l"}},
		{name: "bad driver option", in: []string{"lowerdir=/l,driver=zfs"}, err: "want auto, fuse or overlay"},
		{name: "unknown option", in: []string{"lowerdir=/l,frobnicate"}, err: `unknown option "frobnicate"`},
		{name: "no lowerdir", in: []string{"upperdir=/u"}, err: "lowerdir=TOP:...:BOTTOM is required"},
		{name: "empty layer", in: []string{"lowerdir=/a::/b"}, err: "empty layer"},
		{name: "bad mapping", in: []string{"lowerdir=/l,uidmapping=0:1"}, err: "container:host:length"},
		{name: "bad squash uid", in: []string{"lowerdir=/l,squash_to_uid=x"}, err: "squash_to_uid"},
		{name: "bad passthrough", in: []string{"lowerdir=/l,passthrough=maybe"}, err: "want on, off or auto"},
		{name: "uring is FUSE-only", in: []string{"lowerdir=/l,uring=off"}, lowers: []string{"/l"}, fuseOnly: []string{"uring"}},
		{name: "bad uring", in: []string{"lowerdir=/l,uring=sometimes"}, err: "want on, off or auto"},
		{name: "dirahead is FUSE-only", in: []string{"lowerdir=/l,dirahead=off"}, lowers: []string{"/l"}, fuseOnly: []string{"dirahead"}},
		{name: "fileahead is FUSE-only", in: []string{"lowerdir=/l,fileahead=0"}, lowers: []string{"/l"}, fuseOnly: []string{"fileahead"}},
		{name: "bad dirahead", in: []string{"lowerdir=/l,dirahead=lots"}, err: "want on, off or auto"},
		{name: "readdirplus is FUSE-only", in: []string{"lowerdir=/l,readdirplus=off"}, lowers: []string{"/l"}, fuseOnly: []string{"readdirplus"}},
		{name: "bad readdirplus", in: []string{"lowerdir=/l,readdirplus=some"}, err: "want on, off or auto"},
		{name: "bad timeout", in: []string{"lowerdir=/l,timeout=-1"}, err: "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseMountOptions(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want one containing %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Config.Lowers, c.lowers) || r.Config.Upper != c.upper || r.ReadOnly != c.ro {
				t.Errorf("got %+v ro=%v", r.Config, r.ReadOnly)
			}
			if !reflect.DeepEqual(r.FUSEOnly, c.fuseOnly) {
				t.Errorf("FUSEOnly = %v, want %v", r.FUSEOnly, c.fuseOnly)
			}
		})
	}
	if _, err := ParseMountOptions([]string{"lowerdir=/l,bogus=1"}); !errors.Is(err, ErrUnknownOption) {
		t.Errorf("unknown option error does not match ErrUnknownOption: %v", err)
	}
}

func TestIDMap(t *testing.T) {
	m, err := ParseIDMap("0:1000:1:1:100000:65536")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name            string
		container, host uint32
	}{
		// fuse-overlayfs's order: stored id, then the id the union shows.
		{name: "root", container: 1000, host: 0},
		{name: "first of second range", container: 100000, host: 1},
		{name: "last of second range", container: 165535, host: 65536},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := m.ToHost(c.container); got != c.host {
				t.Errorf("ToHost(%d) = %d, want %d", c.container, got, c.host)
			}
			if got := m.ToContainer(c.host); got != c.container {
				t.Errorf("ToContainer(%d) = %d, want %d", c.host, got, c.container)
			}
		})
	}
	if got := m.ToContainer(70000); got != overflowID {
		t.Errorf("unmapped host id shows as %d, want %d", got, overflowID)
	}
	// containers/storage's form (podman --uidmap with a mount program).
	m, err = ParseIDMap(":0:100000:65536")
	if err != nil || len(m) != 1 || m[0] != (IDRange{Container: 100000, Host: 0, Length: 65536}) {
		t.Errorf(`ParseIDMap(":0:100000:65536") = %v, %v`, m, err)
	}
	for _, bad := range []string{"", ":", "0:1", "0:1:2:3"} {
		if _, err := ParseIDMap(bad); err == nil {
			t.Errorf("ParseIDMap(%q) accepted", bad)
		}
	}
}

// FuzzParseMountOptions: options come from command lines and fstab.
func FuzzParseMountOptions(f *testing.F) {
	for _, s := range []string{"lowerdir=/a:/b,upperdir=/u,workdir=/w", `lowerdir=/a\:b`, "lowerdir=/l,uidmapping=0:1:2",
		"lowerdir=/l,squash_to_uid=4294967295", "lowerdir=\\", "lowerdir=/l,timeout=1e400", "ro,lowerdir=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseMountOptions([]string{s})
		if err != nil {
			return
		}
		if len(r.Config.Lowers) == 0 {
			t.Fatalf("accepted %q without lowers", s)
		}
		for _, l := range r.Config.Lowers {
			if l == "" {
				t.Fatalf("accepted an empty lower in %q", s)
			}
		}
	})
}

// FuzzParseIDMap: mappings must round-trip for every mapped id.
func FuzzParseIDMap(f *testing.F) {
	f.Add("0:1000:1")
	f.Add("0:100000:65536:65536:1000:1")
	f.Add(":0:100000:65536")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseIDMap(s)
		if err != nil {
			return
		}
		for _, r := range m {
			if r.Length == 0 {
				t.Fatalf("zero-length range accepted in %q", s)
			}
			if got := m.ToHost(r.Container); got == overflowID && r.Host != overflowID {
				t.Fatalf("%q: container %d unmapped", s, r.Container)
			}
		}
	})
}

// TestEscapeOptionRoundTrip: what EscapeOption writes, ParseMountOptions
// reads back, for paths holding every separator.
func TestEscapeOptionRoundTrip(t *testing.T) {
	cases := []struct{ name, path string }{
		{name: "plain", path: "/var/lib/layer"},
		{name: "colon", path: "/a:b"},
		{name: "comma", path: "/a,b"},
		{name: "backslash", path: `/a\b`},
		{name: "all", path: `/x\:,y\\`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseMountOptions([]string{"lowerdir=" + EscapeOption(c.path) + ":/second,upperdir=" + EscapeOption(c.path+"u") + ",workdir=/w"})
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{c.path, "/second"}; !reflect.DeepEqual(r.Config.Lowers, want) || r.Config.Upper != c.path+"u" {
				t.Errorf("read back lowers %q upper %q, want %q and %q", r.Config.Lowers, r.Config.Upper, want, c.path+"u")
			}
		})
	}
}
