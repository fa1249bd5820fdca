package whiteout

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// errBadDirent reports a getdents64 buffer that does not hold whole
// records. The kernel never produces one; parseDirents checks anyway so
// that a bug elsewhere cannot make it read out of bounds.
var errBadDirent = errors.New("malformed dirent record")

// Layout of struct linux_dirent64 (see getdents64(2)): d_ino u64, d_off s64,
// d_reclen u16, d_type u8, then d_name, NUL-terminated and padded to 8
// bytes. Integers are in the machine's byte order.
const (
	direntIno    = 0
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

// parseDirents calls fn for each record in buf, the bytes getdents64
// returned. Records with d_ino 0 (deleted entries on some filesystems) are
// skipped. It stops at the first malformed record and returns
// errBadDirent.
func parseDirents(buf []byte, fn func(name string, typ uint8, ino uint64)) error {
	for len(buf) > 0 {
		if len(buf) < direntName {
			return errBadDirent
		}
		reclen := int(binary.NativeEndian.Uint16(buf[direntReclen:]))
		if reclen < direntName || reclen > len(buf) {
			return errBadDirent
		}
		rec := buf[:reclen]
		buf = buf[reclen:]
		ino := binary.NativeEndian.Uint64(rec[direntIno:])
		if ino == 0 {
			continue
		}
		name := rec[direntName:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if len(name) == 0 {
			return errBadDirent
		}
		fn(string(name), rec[direntType], ino)
	}
	return nil
}
