package uring

import (
	"bytes"
	"unsafe"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// FUSE opcodes (include/uapi/linux/fuse.h). FORGET, BATCH_FORGET,
// INTERRUPT and INIT never come through a ring.
const (
	opLookup        = 1
	opGetattr       = 3
	opSetattr       = 4
	opReadlink      = 5
	opSymlink       = 6
	opMknod         = 8
	opMkdir         = 9
	opUnlink        = 10
	opRmdir         = 11
	opRename        = 12
	opLink          = 13
	opOpen          = 14
	opRead          = 15
	opWrite         = 16
	opStatfs        = 17
	opRelease       = 18
	opFsync         = 20
	opSetxattr      = 21
	opGetxattr      = 22
	opListxattr     = 23
	opRemovexattr   = 24
	opFlush         = 25
	opOpendir       = 27
	opReaddir       = 28
	opReleasedir    = 29
	opFsyncdir      = 30
	opGetlk         = 31
	opSetlk         = 32
	opSetlkw        = 33
	opAccess        = 34
	opCreate        = 35
	opIoctl         = 39
	opFallocate     = 43
	opReaddirplus   = 44
	opRename2       = 45
	opLseek         = 46
	opCopyFileRange = 47
	opPoll          = 40
	opTmpfile       = 51
	opStatx         = 52
)

// go-fuse's start-up probe (WaitMount): it opens and polls this name at the
// root, so that the kernel meets POLL once, is told ENOSYS and never
// sends it again. Until then a daemon goroutine that registers a file of
// its own mount with the runtime's poller blocks in the kernel while it
// holds a scheduler slot, which can starve the ring workers. go-fuse
// answers the probe in its own loop; dispatch answers it the same way.
const (
	probeName  = ".go-fuse-epoll-hack"
	probeInode = ^uint64(0)
	rootInode  = 1
)

// inHeaderSize is the size of struct fuse_in_header; every go-fuse input
// struct starts with one.
const inHeaderSize = int(unsafe.Sizeof(fuse.InHeader{}))

// request is one request as a ring delivers it: in is the in-header
// followed by the opcode's fixed argument (go-fuse's input structs have
// that layout), arg the variable part (names, write data), out the buffer
// the reply's arguments go to. arg and out are the same memory: a handler
// takes what it needs from arg before it writes out.
type request struct {
	in  unsafe.Pointer
	arg []byte
	out []byte
}

func (r *request) header() *fuse.InHeader { return (*fuse.InHeader)(r.in) }

// name is the first NUL-terminated string of arg.
func (r *request) name() string {
	if i := bytes.IndexByte(r.arg, 0); i >= 0 {
		return string(r.arg[:i])
	}
	return string(r.arg)
}

// names are the two NUL-terminated strings of arg.
func (r *request) names() (string, string, fuse.Status) {
	a, rest, ok := bytes.Cut(r.arg, []byte{0})
	if !ok {
		return "", "", fuse.EIO
	}
	b, _, ok := bytes.Cut(rest, []byte{0})
	if !ok {
		return "", "", fuse.EIO
	}
	return string(a), string(b), fuse.OK
}

// outStruct clears and returns the start of out as a *T.
func outStruct[T any](r *request) *T {
	var zero T
	n := int(unsafe.Sizeof(zero))
	clear(r.out[:n])
	return (*T)(unsafe.Pointer(&r.out[0]))
}

func sizeOf[T any]() int {
	var zero T
	return int(unsafe.Sizeof(zero))
}

// dispatch serves r with fs and returns the status and the size of the
// reply's arguments written to r.out.
func dispatch(fs fuse.RawFileSystem, r *request) (fuse.Status, int) {
	var cancel <-chan struct{} // interrupts are not delivered through rings
	h := r.header()
	if h.NodeId == probeInode || h.NodeId == rootInode && h.Opcode == opLookup && bytes.HasPrefix(r.arg, []byte(probeName+"\x00")) {
		return probe(r)
	}
	switch h.Opcode {
	case opLookup:
		name := r.name()
		return fs.Lookup(cancel, h, name, outStruct[fuse.EntryOut](r)), sizeOf[fuse.EntryOut]()
	case opGetattr:
		return fs.GetAttr(cancel, (*fuse.GetAttrIn)(r.in), outStruct[fuse.AttrOut](r)), sizeOf[fuse.AttrOut]()
	case opSetattr:
		return fs.SetAttr(cancel, (*fuse.SetAttrIn)(r.in), outStruct[fuse.AttrOut](r)), sizeOf[fuse.AttrOut]()
	case opReadlink:
		target, st := fs.Readlink(cancel, h)
		return st, copy(r.out, target)
	case opSymlink:
		name, target, st := r.names()
		if !st.Ok() {
			return st, 0
		}
		return fs.Symlink(cancel, h, target, name, outStruct[fuse.EntryOut](r)), sizeOf[fuse.EntryOut]()
	case opMknod:
		name := r.name()
		return fs.Mknod(cancel, (*fuse.MknodIn)(r.in), name, outStruct[fuse.EntryOut](r)), sizeOf[fuse.EntryOut]()
	case opMkdir:
		name := r.name()
		return fs.Mkdir(cancel, (*fuse.MkdirIn)(r.in), name, outStruct[fuse.EntryOut](r)), sizeOf[fuse.EntryOut]()
	case opUnlink:
		return fs.Unlink(cancel, h, r.name()), 0
	case opRmdir:
		return fs.Rmdir(cancel, h, r.name()), 0
	case opRename, opRename2:
		from, to, st := r.names()
		if !st.Ok() {
			return st, 0
		}
		return fs.Rename(cancel, (*fuse.RenameIn)(r.in), from, to), 0
	case opLink:
		name := r.name()
		return fs.Link(cancel, (*fuse.LinkIn)(r.in), name, outStruct[fuse.EntryOut](r)), sizeOf[fuse.EntryOut]()
	case opOpen:
		return fs.Open(cancel, (*fuse.OpenIn)(r.in), outStruct[fuse.OpenOut](r)), sizeOf[fuse.OpenOut]()
	case opOpendir:
		return fs.OpenDir(cancel, (*fuse.OpenIn)(r.in), outStruct[fuse.OpenOut](r)), sizeOf[fuse.OpenOut]()
	case opCreate:
		name := r.name()
		return fs.Create(cancel, (*fuse.CreateIn)(r.in), name, outStruct[fuse.CreateOut](r)), sizeOf[fuse.CreateOut]()
	case opTmpfile:
		return fs.Tmpfile(cancel, (*fuse.CreateIn)(r.in), outStruct[fuse.CreateOut](r)), sizeOf[fuse.CreateOut]()
	case opRead:
		return read(fs, cancel, r)
	case opWrite:
		in := (*fuse.WriteIn)(r.in)
		data := r.arg[:min(int(in.Size), len(r.arg))]
		n, st := fs.Write(cancel, in, data)
		out := outStruct[fuse.WriteOut](r)
		out.Size = n
		return st, sizeOf[fuse.WriteOut]()
	case opStatfs:
		return fs.StatFs(cancel, h, outStruct[fuse.StatfsOut](r)), sizeOf[fuse.StatfsOut]()
	case opRelease:
		fs.Release(cancel, (*fuse.ReleaseIn)(r.in))
		return fuse.OK, 0
	case opReleasedir:
		fs.ReleaseDir((*fuse.ReleaseIn)(r.in))
		return fuse.OK, 0
	case opFsync:
		return fs.Fsync(cancel, (*fuse.FsyncIn)(r.in)), 0
	case opFsyncdir:
		return fs.FsyncDir(cancel, (*fuse.FsyncIn)(r.in)), 0
	case opFlush:
		return fs.Flush(cancel, (*fuse.FlushIn)(r.in)), 0
	case opSetxattr:
		name, value, ok := bytes.Cut(r.arg, []byte{0})
		if !ok {
			return fuse.EINVAL, 0
		}
		in := (*fuse.SetXAttrIn)(r.in)
		value = value[:min(int(in.Size), len(value))]
		return fs.SetXAttr(cancel, in, string(name), value), 0
	case opGetxattr, opListxattr:
		return xattr(fs, cancel, r)
	case opRemovexattr:
		return fs.RemoveXAttr(cancel, h, r.name()), 0
	case opReaddir, opReaddirplus:
		in := (*fuse.ReadIn)(r.in)
		list := fuse.NewDirEntryList(r.out[:min(int(in.Size), len(r.out))], in.Offset)
		var st fuse.Status
		if h.Opcode == opReaddir {
			st = fs.ReadDir(cancel, in, list)
		} else {
			st = fs.ReadDirPlus(cancel, in, list)
		}
		return st, len(list.Bytes())
	case opGetlk:
		return fs.GetLk(cancel, (*fuse.LkIn)(r.in), outStruct[fuse.LkOut](r)), sizeOf[fuse.LkOut]()
	case opSetlk:
		return fs.SetLk(cancel, (*fuse.LkIn)(r.in)), 0
	case opSetlkw:
		return fs.SetLkw(cancel, (*fuse.LkIn)(r.in)), 0
	case opAccess:
		return fs.Access(cancel, (*fuse.AccessIn)(r.in)), 0
	case opIoctl:
		return ioctl(fs, cancel, r)
	case opFallocate:
		return fs.Fallocate(cancel, (*fuse.FallocateIn)(r.in)), 0
	case opLseek:
		return fs.Lseek(cancel, (*fuse.LseekIn)(r.in), outStruct[fuse.LseekOut](r)), sizeOf[fuse.LseekOut]()
	case opCopyFileRange:
		n, st := fs.CopyFileRange(cancel, (*fuse.CopyFileRangeIn)(r.in))
		out := outStruct[fuse.WriteOut](r)
		out.Size = n
		return st, sizeOf[fuse.WriteOut]()
	case opStatx:
		return fs.Statx(cancel, (*fuse.StatxIn)(r.in), outStruct[fuse.StatxOut](r)), sizeOf[fuse.StatxOut]()
	}
	return fuse.ENOSYS, 0
}

// probe answers the start-up probe's requests as go-fuse does.
func probe(r *request) (fuse.Status, int) {
	attr := fuse.Attr{Ino: probeInode, Mode: fuse.S_IFREG | 0o644, Nlink: 1}
	switch r.header().Opcode {
	case opLookup:
		*outStruct[fuse.EntryOut](r) = fuse.EntryOut{NodeId: probeInode, Attr: attr}
		return fuse.OK, sizeOf[fuse.EntryOut]()
	case opOpen:
		*outStruct[fuse.OpenOut](r) = fuse.OpenOut{Fh: probeInode}
		return fuse.OK, sizeOf[fuse.OpenOut]()
	case opGetattr, opSetattr:
		outStruct[fuse.AttrOut](r).Attr = attr
		return fuse.OK, sizeOf[fuse.AttrOut]()
	case opGetxattr:
		return fuse.ENODATA, 0
	case opPoll:
		return fuse.ENOSYS, 0
	case opAccess, opFlush, opRelease:
		return fuse.OK, 0
	}
	return fuse.ERANGE, 0 // not ENOSYS, which would switch the operation off for the whole mount
}

// read serves READ into r.out, flattening whatever the file system
// returns (bytes or a file range) there.
func read(fs fuse.RawFileSystem, cancel <-chan struct{}, r *request) (fuse.Status, int) {
	in := (*fuse.ReadIn)(r.in)
	buf := r.out[:min(int(in.Size), len(r.out))]
	res, st := fs.Read(cancel, in, buf)
	if res == nil {
		return st, 0
	}
	defer res.Done()
	if !st.Ok() {
		return st, 0
	}
	data, st := res.Bytes(buf)
	if !st.Ok() {
		return st, 0
	}
	return fuse.OK, copy(buf, data)
}

// xattr serves GETXATTR and LISTXATTR: with a size of 0 the reply is the
// size the value needs, otherwise the value itself.
func xattr(fs fuse.RawFileSystem, cancel <-chan struct{}, r *request) (fuse.Status, int) {
	h := r.header()
	in := (*fuse.GetXAttrIn)(r.in)
	name := ""
	if h.Opcode == opGetxattr {
		name = r.name()
	}
	var dest []byte
	if in.Size > 0 {
		dest = r.out[:min(int(in.Size), len(r.out))]
	}
	var n uint32
	var st fuse.Status
	if h.Opcode == opGetxattr {
		n, st = fs.GetXAttr(cancel, h, name, dest)
	} else {
		n, st = fs.ListXAttr(cancel, h, dest)
	}
	if in.Size == 0 {
		if st == fuse.ERANGE {
			st = fuse.OK // only the size was asked for
		}
		if !st.Ok() {
			return st, 0
		}
		outStruct[fuse.GetXAttrOut](r).Size = n
		return fuse.OK, sizeOf[fuse.GetXAttrOut]()
	}
	if !st.Ok() {
		return st, 0
	}
	return fuse.OK, int(min(n, in.Size))
}

// ioctl serves IOCTL. Its input is copied out of the shared buffer before
// the reply is written over it.
func ioctl(fs fuse.RawFileSystem, cancel <-chan struct{}, r *request) (fuse.Status, int) {
	in := (*fuse.IoctlIn)(r.in)
	input := bytes.Clone(r.arg)
	hdr := sizeOf[fuse.IoctlOut]()
	outBuf := r.out[hdr:min(hdr+int(in.OutSize), len(r.out))]
	out := outStruct[fuse.IoctlOut](r)
	st := fs.Ioctl(cancel, in, input, out, outBuf)
	if !st.Ok() {
		return st, 0
	}
	return fuse.OK, hdr + len(outBuf)
}
