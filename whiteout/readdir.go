package whiteout

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Dirent is one visible entry of a layer directory.
type Dirent struct {
	Name string
	Type uint8  // DT_* as in unix.DT_REG; never DT_UNKNOWN
	Ino  uint64 // d_ino as the layer's filesystem reports it
}

// direntBufSize is the getdents buffer: large enough that most directories
// are read in one or two system calls.
const direntBufSize = 32 << 10

var direntBufs = sync.Pool{New: func() any {
	b := make([]byte, direntBufSize)
	return &b
}}

// ReadDir lists the directory dir of one layer. It returns the visible
// entries, in the order the filesystem yields them, and the set of names the
// layer whites out in dir (nil when there are none). xwh says dir may hold
// xwhiteouts (DirInfo.XWhiteouts).
//
// Marker names, whiteouts in place and "." and ".." are left out of ents. A
// name that is both a real entry and the target of a ".wh." marker is listed
// and not whited out, as Lookup decides. ReadDir reads with getdents64 on
// the directory and stats an entry only when it must: a character device
// (is it 0/0?), an entry of unknown type, and an empty regular file when
// xwh is set.
func ReadDir(dir string, xwh bool) (ents []Dirent, whiteouts map[string]struct{}, err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("read dir %s: %w", dir, err)
	}
	defer unix.Close(fd)
	return ReadDirFd(fd, dir, xwh)
}

// ReadDirFd is ReadDir on fd, a descriptor the caller opened on the
// directory dir (named in errors) at its start, and still owns.
func ReadDirFd(fd int, dir string, xwh bool) (ents []Dirent, whiteouts map[string]struct{}, err error) {
	r := dirReader{dir: dir, fd: fd, xwh: xwh}
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	for {
		n, err := unix.Getdents(fd, *bp)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read dir %s: %w", dir, err)
		}
		if n <= 0 {
			break
		}
		if err := parseDirents((*bp)[:n], r.add); err != nil {
			return nil, nil, fmt.Errorf("read dir %s: %w", dir, err)
		}
		if r.err != nil {
			return nil, nil, fmt.Errorf("read dir %s: %w", dir, r.err)
		}
	}
	if len(r.wh) > 0 {
		for _, e := range r.ents {
			delete(r.wh, e.Name)
		}
	}
	return r.ents, r.wh, nil
}

// dirReader classifies the entries of one directory as they are parsed.
type dirReader struct {
	dir  string
	fd   int
	xwh  bool
	ents []Dirent
	wh   map[string]struct{}
	err  error // first error; later entries are ignored
}

func (r *dirReader) whiteout(name string) {
	if r.wh == nil {
		r.wh = make(map[string]struct{})
	}
	r.wh[name] = struct{}{}
}

// add is called for each raw directory entry.
func (r *dirReader) add(name string, typ uint8, ino uint64) {
	if r.err != nil || name == "." || name == ".." {
		return
	}
	if IsMarkerName(name) {
		if kind, target, err := ParseName(name); err == nil && kind == Whiteout {
			r.whiteout(target)
		}
		return
	}
	if typ == unix.DT_CHR || typ == unix.DT_UNKNOWN || (typ == unix.DT_REG && r.xwh) {
		var st unix.Stat_t
		err := unix.Fstatat(r.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			return // removed since getdents
		}
		if err != nil {
			r.err = fmt.Errorf("stat %s: %w", name, err)
			return
		}
		wh, err := isWhiteout(join(r.dir, name), &st, r.xwh)
		if err != nil {
			r.err = fmt.Errorf("read xattr of %s: %w", name, err)
			return
		}
		if wh {
			r.whiteout(name)
			return
		}
		typ = modeToDT(st.Mode)
	}
	r.ents = append(r.ents, Dirent{Name: name, Type: typ, Ino: ino})
}

// fileTypes pairs each st_mode file type with its DT_* value.
var fileTypes = [...]struct {
	mode uint32
	dt   uint8
}{
	{unix.S_IFREG, unix.DT_REG}, {unix.S_IFDIR, unix.DT_DIR}, {unix.S_IFLNK, unix.DT_LNK},
	{unix.S_IFCHR, unix.DT_CHR}, {unix.S_IFBLK, unix.DT_BLK}, {unix.S_IFIFO, unix.DT_FIFO},
	{unix.S_IFSOCK, unix.DT_SOCK},
}

// modeToDT converts st_mode's file type to a DT_* value.
func modeToDT(mode uint32) uint8 {
	for _, t := range fileTypes {
		if mode&unix.S_IFMT == t.mode {
			return t.dt
		}
	}
	return unix.DT_UNKNOWN
}

// Mode returns the entry's file type as st_mode bits (S_IFREG for an
// unknown type).
func (d Dirent) Mode() uint32 {
	for _, t := range fileTypes {
		if d.Type == t.dt {
			return t.mode
		}
	}
	return unix.S_IFREG
}
