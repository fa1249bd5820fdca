package tests

import (
	"encoding/binary"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// dirent is one record of getdents64: the name and d_type the file system
// reported (the standard library's readers drop d_type or fill it in).
type dirent struct {
	name  string
	dtype uint8
}

// getdents reads the directory open on fd from its current offset to the
// end, bufSize bytes per getdents64 call.
func getdents(fd, bufSize int) ([]dirent, error) {
	var out []dirent
	buf := make([]byte, bufSize)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return out, err
		}
		if n <= 0 {
			return out, nil
		}
		out = append(out, parseDirents(buf[:n])...)
	}
}

// parseDirents decodes struct linux_dirent64 records:
// u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[].
func parseDirents(b []byte) []dirent {
	var out []dirent
	for len(b) >= 19 {
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			break
		}
		name := b[19:reclen]
		if i := strings.IndexByte(string(name), 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, dirent{name: string(name), dtype: b[18]})
		b = b[reclen:]
	}
	return out
}

// readDir lists the directory p with getdents64.
func readDir(p string, bufSize int) ([]dirent, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return getdents(fd, bufSize)
}

// formatDirents renders a listing sorted by name as "name:dtype ...", and
// marks names that appear more than once.
func formatDirents(ents []dirent) string {
	seen := map[string]int{}
	var parts []string
	for _, e := range ents {
		seen[e.name]++
		parts = append(parts, e.name+":"+dtypeName(e.dtype))
	}
	for name, n := range seen {
		if n > 1 {
			parts = append(parts, "DUPLICATE:"+name)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
