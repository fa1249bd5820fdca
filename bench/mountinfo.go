package bench

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/self/mountinfo, reduced to what cleanup
// needs.
type mountEntry struct {
	major, minor uint32
	point        string
	fstype       string
}

// readMountinfo parses /proc/self/mountinfo.
func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("open mountinfo: %w", err)
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if e, ok := parseMountinfoLine(sc.Text()); ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// parseMountinfoLine parses one mountinfo line:
// "ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS".
func parseMountinfoLine(line string) (mountEntry, bool) {
	fields := strings.Fields(line)
	if len(fields) < 7 {
		return mountEntry{}, false
	}
	var e mountEntry
	maj, min, ok := strings.Cut(fields[2], ":")
	if !ok {
		return mountEntry{}, false
	}
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if err1 != nil || err2 != nil {
		return mountEntry{}, false
	}
	e.major, e.minor = uint32(a), uint32(b)
	e.point = unescapeMountinfo(fields[4])
	for i := 6; i < len(fields)-1; i++ {
		if fields[i] == "-" {
			e.fstype = fields[i+1]
			break
		}
	}
	return e, true
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for space, ...).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountedAt returns the topmost mount entry at exactly path, if any.
func mountedAt(path string) (mountEntry, bool, error) {
	path = filepath.Clean(path)
	entries, err := readMountinfo()
	if err != nil {
		return mountEntry{}, false, err
	}
	var found mountEntry
	ok := false
	for _, e := range entries {
		if e.point == path {
			found, ok = e, true // later lines are mounted on top
		}
	}
	return found, ok, nil
}

// forceUnmount aborts a FUSE connection at mnt, if that is what is mounted
// there, and lazily detaches every mount stacked at mnt.
func forceUnmount(mnt string) error {
	for range 8 {
		e, ok, err := mountedAt(mnt)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if strings.HasPrefix(e.fstype, "fuse") && e.major == 0 {
			abortFUSE(e.minor)
		}
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("detach %s: %w", mnt, err)
		}
	}
	return fmt.Errorf("detach %s: still mounted", mnt)
}

// abortFUSE aborts the FUSE connection with device minor minor, so that a hung
// daemon cannot keep processes in the kernel waiting. It mounts fusectl when
// it is not mounted yet; failures are ignored, a lazy unmount follows anyway.
func abortFUSE(minor uint32) {
	const dir = "/sys/fs/fuse/connections"
	abort := filepath.Join(dir, strconv.FormatUint(uint64(minor), 10), "abort")
	if _, err := os.Stat(abort); err != nil {
		_ = unix.Mount("fusectl", dir, "fusectl", 0, "")
	}
	_ = os.WriteFile(abort, []byte("1"), 0)
}

// unmountUnder detaches every mount at dir or below it, deepest first.
func unmountUnder(dir string) error {
	dir = filepath.Clean(dir)
	entries, err := readMountinfo()
	if err != nil {
		return err
	}
	var points []string
	for _, e := range entries {
		if e.point == dir || strings.HasPrefix(e.point, dir+"/") {
			points = append(points, e.point)
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := forceUnmount(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeUnmounted removes dir unless something is still mounted at or below
// it: removing through a mount would delete the layers it shows.
func removeUnmounted(dir string) error {
	if err := checkUnmounted(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// retireUnmounted is removeUnmounted deferred: it unmounts what is under
// dir and moves dir to trash (a path that does not exist yet, on the same
// filesystem), for removal at the end of the run. Deleting thousands of
// files slows the next creates on an ext4 without a journal (the inode
// allocator skips recently deleted inodes, rescanning them for every new
// one), which would charge one configuration's clean-up to the next one's
// untar or copy-up.
func retireUnmounted(dir, trash string) error {
	if err := checkUnmounted(dir); err != nil {
		return fmt.Errorf("retire %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Dir(trash), 0o755); err != nil {
		return fmt.Errorf("retire %s: %w", dir, err)
	}
	if err := os.Rename(dir, trash); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("retire %s: %w", dir, err)
	}
	return nil
}

// checkUnmounted unmounts everything under dir and checks that nothing is
// left mounted there.
func checkUnmounted(dir string) error {
	if err := unmountUnder(dir); err != nil {
		return err
	}
	entries, err := readMountinfo()
	if err != nil {
		return err
	}
	clean := filepath.Clean(dir)
	for _, e := range entries {
		if e.point == clean || strings.HasPrefix(e.point, clean+"/") {
			return fmt.Errorf("%s is still mounted", e.point)
		}
	}
	return nil
}
