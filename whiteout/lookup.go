package whiteout

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// State is what one layer directory says about a name.
type State int

const (
	Absent    State = iota // nothing with that name in this layer
	Present                // a real entry; its lstat is returned
	WhitedOut              // the layer whites out the name (any format)
)

func (s State) String() string {
	switch s {
	case Absent:
		return "absent"
	case Present:
		return "present"
	case WhitedOut:
		return "whited-out"
	}
	return "State(?)"
}

// Lookup reports the state of name inside dir, an absolute path of a
// directory in one layer. xwh says dir may hold xwhiteouts
// (DirInfo.XWhiteouts). st is filled when the state is Present.
//
// Lookup lstats dir/name; only when that does not exist does it look for
// dir/.wh.NAME. A marker name is Absent without any system call, and a name
// that is not one path component is Absent with ErrBadName. Other errors
// (EACCES, ENOTDIR, EIO...) are wrapped.
func Lookup(dir, name string, xwh bool, st *unix.Stat_t) (State, error) {
	return LookupAt(-1, dir, name, xwh, st)
}

// LookupAt is Lookup with dirfd, an open descriptor of dir (O_PATH will
// do), to resolve name from: one path component to walk instead of all of
// dir's. A negative dirfd means none: dir's path is walked.
func LookupAt(dirfd int, dir, name string, xwh bool, st *unix.Stat_t) (State, error) {
	if !validName(name) {
		return Absent, fmt.Errorf("lookup %q: %w", name, ErrBadName)
	}
	if IsMarkerName(name) {
		return Absent, nil
	}
	err := lstatAt(dirfd, dir, name, st)
	switch {
	case err == nil:
		path := join(dir, name)
		wh, err := isWhiteout(path, st, xwh)
		if err != nil {
			return Absent, fmt.Errorf("lookup %s: %w", path, err)
		}
		if wh {
			return WhitedOut, nil
		}
		return Present, nil
	case !errors.Is(err, unix.ENOENT):
		return Absent, fmt.Errorf("lookup %s: %w", join(dir, name), err)
	}
	var mst unix.Stat_t
	marker := WhiteoutName(name)
	switch err := lstatAt(dirfd, dir, marker, &mst); {
	case err == nil:
		return WhitedOut, nil
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENAMETOOLONG):
		return Absent, nil
	default:
		return Absent, fmt.Errorf("lookup %s: %w", join(dir, marker), err)
	}
}

// lstatAt lstats rel (a relative path) inside dir: from dirfd when it is
// not negative, else through dir's path.
func lstatAt(dirfd int, dir, rel string, st *unix.Stat_t) error {
	if dirfd < 0 {
		return unix.Lstat(join(dir, rel), st)
	}
	return unix.Fstatat(dirfd, rel, st, unix.AT_SYMLINK_NOFOLLOW)
}

// isWhiteout reports whether the entry at path, whose lstat is st, is a
// whiteout in place: a 0/0 character device, or (when the directory may
// hold them) an xwhiteout.
func isWhiteout(path string, st *unix.Stat_t, xwh bool) (bool, error) {
	if isCharWhiteout(st) {
		return true, nil
	}
	if !xwh || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
		return false, nil
	}
	return hasXWhiteoutXattr(path)
}
