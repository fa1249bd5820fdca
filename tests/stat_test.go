package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// errName canonicalises an error to its errno name ("ENOENT"), or "ok".
func errName(err error) string {
	if err == nil {
		return "ok"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		if n := unix.ErrnoName(errno); n != "" {
			return n
		}
		return fmt.Sprintf("errno%d", int(errno))
	}
	return err.Error()
}

func typeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "reg"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFLNK:
		return "lnk"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFCHR:
		return "chr"
	case unix.S_IFBLK:
		return "blk"
	case unix.S_IFSOCK:
		return "sock"
	}
	return fmt.Sprintf("type%o", mode&unix.S_IFMT)
}

func dtypeName(t uint8) string {
	switch t {
	case unix.DT_REG:
		return "reg"
	case unix.DT_DIR:
		return "dir"
	case unix.DT_LNK:
		return "lnk"
	case unix.DT_FIFO:
		return "fifo"
	case unix.DT_CHR:
		return "chr"
	case unix.DT_BLK:
		return "blk"
	case unix.DT_SOCK:
		return "sock"
	case unix.DT_UNKNOWN:
		return "unknown"
	}
	return fmt.Sprintf("dt%d", t)
}

// mtimeClass says whether an mtime is still the fixture's ("old") or was set
// by the union or the test ("new"). Exact new times differ between mounts.
func mtimeClass(ts unix.Timespec) string {
	if ts.Sec == fixtureTime.Unix() && ts.Nsec == 0 {
		return "old"
	}
	if ts.Sec == utimensTime {
		return "set"
	}
	return "new"
}

// utimensTime is the time doUtimens sets.
const utimensTime = 1500000000

// describe renders the comparable fields of st. Directory sizes and link
// counts are left out: the size belongs to the backing file system, and the
// kernel reports nlink=1 for every merged directory (which find and du take
// as "unknown") where a FUSE union may count; both are fine.
func describe(st *unix.Stat_t, p string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s mode=%04o uid=%d gid=%d", typeName(st.Mode), st.Mode&0o7777, st.Uid, st.Gid)
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		fmt.Fprintf(&b, " nlink=%d size=%d", st.Nlink, st.Size)
	}
	fmt.Fprintf(&b, " mtime=%s", mtimeClass(st.Mtim))
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		target, err := os.Readlink(p)
		if err != nil {
			target = "!" + errName(err)
		}
		fmt.Fprintf(&b, " target=%q", target)
	case unix.S_IFCHR, unix.S_IFBLK:
		fmt.Fprintf(&b, " rdev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return b.String()
}

// statString is lstat of p, described, or its errno name.
func statString(p string) string {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return errName(err)
	}
	return describe(&st, p)
}

// contentString renders file data: short printable data verbatim, anything
// else as its length and hash.
func contentString(data []byte) string {
	if len(data) <= 64 && isPrintable(data) {
		return fmt.Sprintf("%q", data)
	}
	return fmt.Sprintf("len=%d sha=%s", len(data), shortHash(data))
}

func isPrintable(b []byte) bool {
	for _, c := range b {
		if (c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

func shortHash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// hashFile streams p through sha256 (for files too big to hold).
func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// xattrList lists p's extended attributes with their values, sorted.
func xattrList(p string) (string, error) {
	names, err := listxattr(p)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, n := range names {
		v, err := getxattr(p, n)
		if err != nil {
			parts = append(parts, n+"!"+errName(err))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%q", n, v))
	}
	return "{" + strings.Join(parts, ",") + "}", nil
}

func listxattr(p string) ([]string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range strings.Split(string(buf[:n]), "\x00") {
		if s != "" {
			names = append(names, s)
		}
	}
	sort.Strings(names)
	return names, nil
}

func getxattr(p, name string) (string, error) {
	buf := make([]byte, 64<<10)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// privateXattr reports whether name is an overlay implementation's own
// attribute, which a union must never show through the mount.
func privateXattr(name string) bool {
	for _, p := range []string{"trusted.overlay.", "user.overlay.", "user.fuseoverlayfs.", "user.lamina.", "trusted.lamina."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
