package unionfs

import (
	"github.com/hanwen/go-fuse/v2/fuse"
)

// umasker applies the caller's umask to the mode of a new entry unless
// its directory has a default ACL, which then decides the mode instead,
// as on a local file system (posix_acl_create). The kernel cannot make that
// choice for a FUSE file system with POSIX ACLs: it either masks every
// mode or, when the daemon asks for FUSE_DONT_MASK (mount.go does with
// ACLs on), none, and sends the umask along. The daemon runs with umask 0,
// so the upper file system then applies the directory's default ACL to
// the unmasked mode itself (publish stages the entries that replace a
// whiteout in a directory that inherits the same ACL). The directory's
// ACL is read through the union, so a directory not yet copied up answers
// with the ACL its copy-up will carry.
type umasker struct {
	fuse.RawFileSystem
}

func newUmasker(fs fuse.RawFileSystem) *umasker { return &umasker{RawFileSystem: fs} }

// mask returns mode with umask applied, unless the directory the request
// h is for (the new entry's parent) has a default ACL.
func (m *umasker) mask(cancel <-chan struct{}, h *fuse.InHeader, mode, umask uint32) uint32 {
	if mode&umask&07777 == 0 {
		return mode // nothing to mask: no need to look
	}
	var buf [64]byte
	switch _, st := m.RawFileSystem.GetXAttr(cancel, h, aclDefault, buf[:]); st {
	case fuse.OK, fuse.ERANGE:
		return mode
	}
	return mode &^ (umask & 07777)
}

func (m *umasker) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	in.Mode = m.mask(cancel, &in.InHeader, in.Mode, in.Umask)
	return m.RawFileSystem.Create(cancel, in, name, out)
}

func (m *umasker) Tmpfile(cancel <-chan struct{}, in *fuse.CreateIn, out *fuse.CreateOut) fuse.Status {
	in.Mode = m.mask(cancel, &in.InHeader, in.Mode, in.Umask)
	return m.RawFileSystem.Tmpfile(cancel, in, out)
}

func (m *umasker) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	in.Mode = m.mask(cancel, &in.InHeader, in.Mode, in.Umask)
	return m.RawFileSystem.Mkdir(cancel, in, name, out)
}

func (m *umasker) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	in.Mode = m.mask(cancel, &in.InHeader, in.Mode, in.Umask)
	return m.RawFileSystem.Mknod(cancel, in, name, out)
}
