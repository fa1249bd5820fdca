package unionfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// aclValue builds an ACL xattr value from {tag, perm, id} triples.
func aclValue(version uint32, entries ...[3]uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, version)
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, e[2])
	}
	return b
}

func TestMapACL(t *testing.T) {
	const undef = 0xffffffff
	uid := func(id uint32) uint32 { return id + 100000 }
	gid := func(id uint32) uint32 { return id + 200000 }
	tests := []struct {
		name string
		in   []byte
		want []byte
		err  error
	}{
		{name: "owner, group, other only: unchanged",
			in:   aclValue(2, [3]uint32{0x01, 6, undef}, [3]uint32{0x04, 4, undef}, [3]uint32{0x20, 4, undef}),
			want: aclValue(2, [3]uint32{0x01, 6, undef}, [3]uint32{0x04, 4, undef}, [3]uint32{0x20, 4, undef})},
		{name: "named user and group mapped, mask kept",
			in:   aclValue(2, [3]uint32{0x01, 6, undef}, [3]uint32{0x02, 6, 1000}, [3]uint32{0x04, 0, undef}, [3]uint32{0x08, 4, 50}, [3]uint32{0x10, 6, undef}, [3]uint32{0x20, 0, undef}),
			want: aclValue(2, [3]uint32{0x01, 6, undef}, [3]uint32{0x02, 6, 101000}, [3]uint32{0x04, 0, undef}, [3]uint32{0x08, 4, 200050}, [3]uint32{0x10, 6, undef}, [3]uint32{0x20, 0, undef})},
		{name: "header only", in: aclValue(2), want: aclValue(2)},
		{name: "empty", in: []byte{}, err: errBadACL},
		{name: "short header", in: []byte{2, 0}, err: errBadACL},
		{name: "partial entry", in: append(aclValue(2, [3]uint32{0x02, 6, 1}), 1, 2, 3), err: errBadACL},
		{name: "wrong version", in: aclValue(1, [3]uint32{0x02, 6, 1}), err: errBadACL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := append([]byte(nil), tc.in...)
			err := mapACL(got, uid, gid)
			if !errors.Is(err, tc.err) {
				t.Fatalf("mapACL: %v, want %v", err, tc.err)
			}
			if err != nil {
				if !bytes.Equal(got, tc.in) {
					t.Errorf("a refused value was changed: % x", got)
				}
				return
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("mapACL:\n got % x\nwant % x", got, tc.want)
			}
		})
	}
}

// FuzzMapACL: any value either is refused untouched or keeps its length
// and every byte but the ids of named entries, and maps back to itself.
func FuzzMapACL(f *testing.F) {
	f.Add(aclValue(2, [3]uint32{0x01, 6, 0xffffffff}, [3]uint32{0x02, 6, 1000}, [3]uint32{0x08, 4, 7}))
	f.Add([]byte{2, 0, 0, 0, 2})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		got := append([]byte(nil), in...)
		up := func(id uint32) uint32 { return id + 7 }
		down := func(id uint32) uint32 { return id - 7 }
		if err := mapACL(got, up, up); err != nil {
			if !bytes.Equal(got, in) {
				t.Fatalf("refused value changed")
			}
			return
		}
		if len(got) != len(in) || !bytes.Equal(got[:4], in[:4]) {
			t.Fatalf("header or length changed")
		}
		if err := mapACL(got, down, down); err != nil || !bytes.Equal(got, in) {
			t.Fatalf("round trip: %v\n got % x\nwant % x", err, got, in)
		}
	})
}

// xattrFS answers GETXATTR of the default ACL for the directories in
// acl, and records the modes of the entries it is asked to make.
type xattrFS struct {
	fuse.RawFileSystem
	acl   map[uint64]bool
	modes []uint32
}

func (x *xattrFS) GetXAttr(cancel <-chan struct{}, h *fuse.InHeader, attr string, dest []byte) (uint32, fuse.Status) {
	if attr != aclDefault || !x.acl[h.NodeId] {
		return 0, fuse.ENODATA
	}
	if len(dest) < 100 {
		return 100, fuse.ERANGE
	}
	return 100, fuse.OK
}

func (x *xattrFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	x.modes = append(x.modes, in.Mode)
	return fuse.OK
}

func (x *xattrFS) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	x.modes = append(x.modes, in.Mode)
	return fuse.OK
}

func (x *xattrFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	x.modes = append(x.modes, in.Mode)
	return fuse.OK
}

func (x *xattrFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	x.modes = append(x.modes, in.Mode)
	return fuse.OK
}

// TestUmasker: the umask applies to new entries unless their directory
// has a default ACL, which a GETXATTR too small for the value (ERANGE)
// also shows.
func TestUmasker(t *testing.T) {
	const plain, withACL = 2, 3
	make4 := func(m *umasker, dir uint64, mode, umask uint32) {
		h := fuse.InHeader{NodeId: dir}
		m.Create(nil, &fuse.CreateIn{InHeader: h, Mode: mode, Umask: umask}, "f", nil)
		m.Tmpfile(nil, &fuse.CreateIn{InHeader: h, Mode: mode, Umask: umask}, nil)
		m.Mkdir(nil, &fuse.MkdirIn{InHeader: h, Mode: mode, Umask: umask}, "d", nil)
		m.Mknod(nil, &fuse.MknodIn{InHeader: h, Mode: mode, Umask: umask}, "n", nil)
	}
	tests := []struct {
		name        string
		dir         uint64
		mode, umask uint32
		want        uint32
	}{
		{"umask applies", plain, 0o100666, 0o022, 0o100644},
		{"umask keeps special bits", plain, 0o41777, 0o077, 0o41700},
		{"default ACL: no umask", withACL, 0o100666, 0o077, 0o100666},
		{"nothing to mask", plain, 0o100600, 0o022, 0o100600},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := &xattrFS{acl: map[uint64]bool{withACL: true}}
			make4(newUmasker(x), tc.dir, tc.mode, tc.umask)
			for i, got := range x.modes {
				if got != tc.want {
					t.Errorf("request %d: mode %o, want %o", i, got, tc.want)
				}
			}
			if len(x.modes) != 4 {
				t.Errorf("%d requests reached the file system, want 4", len(x.modes))
			}
		})
	}
}
