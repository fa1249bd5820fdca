package oci

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// maxAccountFile bounds how much of an image's /etc/passwd or /etc/group is
// read: they come from the image and may be hostile.
const maxAccountFile = 4 << 20

// resolvedUser is Config.User turned into ids.
type resolvedUser struct {
	uid, gid       uint32
	additionalGids []uint32
	home           string // from /etc/passwd; "" if the user has no entry
}

// resolveUser parses Config.User ("user", "uid", "user:group", "uid:gid",
// "user:gid", "uid:group") following conversion.md:
//
//   - numeric user and group are copied verbatim;
//   - a user name is looked up in rootfs/etc/passwd (ErrUnknownUser if it is
//     not there), which gives its uid, primary gid and home;
//   - a numeric user without a group takes its primary gid from /etc/passwd
//     when it has an entry there, else 0 (as Docker does);
//   - a group name is looked up in rootfs/etc/group (ErrUnknownUser if
//     absent);
//   - additional gids are the /etc/group entries listing the user's name as
//     a member, and are set only when the user is a name and no group is
//     given ("SHOULD NOT modify additionalGids if the user is numeric or a
//     group is specified").
//
// The files are read through an os.Root at rootfs: a symlink in the image
// pointing outside rootfs (absolute, or with too many "..") is an error, and
// so is a file that is not regular or is larger than maxAccountFile.
func resolveUser(rootfs, spec string) (resolvedUser, error) {
	var u resolvedUser
	user, group, hasGroup := strings.Cut(spec, ":")
	if user == "" || (hasGroup && group == "") {
		return u, &UserError{User: spec, Reason: "empty user or group"}
	}
	uid, userNumeric := parseID(user)
	if !userNumeric || !hasGroup {
		pw, err := readAccountFile(rootfs, "etc/passwd")
		if err != nil && (!errors.Is(err, fs.ErrNotExist) || !userNumeric) {
			return u, fmt.Errorf("resolve user %q: %w", spec, err)
		}
		var found bool
		for f := range accountEntries(pw, 4) {
			if id, ok := parseID(f[2]); ok && (f[0] == user || userNumeric && id == uid) {
				gid, ok := parseID(f[3])
				if !ok {
					continue
				}
				u.uid, u.gid, found = id, gid, true
				if len(f) > 5 {
					u.home = f[5]
				}
				break
			}
		}
		switch {
		case found:
		case userNumeric:
			u.uid, u.gid = uid, 0
		default:
			return u, &UserError{User: spec, Reason: "no such user in the image's /etc/passwd"}
		}
	} else {
		u.uid = uid
	}

	needGroups := !hasGroup && !userNumeric
	gid, groupNumeric := parseID(group)
	if hasGroup && groupNumeric {
		u.gid = gid
	}
	if !needGroups && (!hasGroup || groupNumeric) {
		return u, nil
	}
	gr, err := readAccountFile(rootfs, "etc/group")
	if err != nil && (!errors.Is(err, fs.ErrNotExist) || hasGroup) {
		return u, fmt.Errorf("resolve user %q: %w", spec, err)
	}
	found := false
	for f := range accountEntries(gr, 3) {
		id, ok := parseID(f[2])
		if !ok {
			continue
		}
		if hasGroup && f[0] == group && !found {
			u.gid, found = id, true
		}
		if needGroups && len(f) > 3 && slices.Contains(strings.Split(f[3], ","), user) && !slices.Contains(u.additionalGids, id) {
			u.additionalGids = append(u.additionalGids, id)
		}
	}
	if hasGroup && !found {
		return u, &UserError{User: spec, Reason: "no such group in the image's /etc/group"}
	}
	return u, nil
}

// parseID parses a decimal uid or gid.
func parseID(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// accountEntries yields the colon-separated fields of each line of an
// /etc/passwd or /etc/group file that has at least min fields, skipping
// blank lines, comments and NIS "+"/"-" entries.
func accountEntries(b []byte, min int) func(yield func([]string) bool) {
	return func(yield func([]string) bool) {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, maxAccountFile)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
				continue
			}
			f := strings.Split(line, ":")
			if len(f) >= min && !yield(f) {
				return
			}
		}
	}
}

// readAccountFile reads name (relative, such as "etc/passwd") inside rootfs
// without ever leaving it: os.Root refuses symlinks and ".." that escape,
// O_NONBLOCK keeps a fifo from blocking the open, and only a regular file of
// at most maxAccountFile bytes is read. A missing file wraps fs.ErrNotExist.
func readAccountFile(rootfs, name string) ([]byte, error) {
	if rootfs == "" {
		return nil, fmt.Errorf("read /%s: no image root filesystem given", name)
	}
	r, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, fmt.Errorf("open image root filesystem: %w", err)
	}
	defer r.Close()
	f, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("read /%s in the image: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read /%s in the image: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("read /%s in the image: not a regular file (%s)", name, st.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxAccountFile+1))
	if err != nil {
		return nil, fmt.Errorf("read /%s in the image: %w", name, err)
	}
	if len(b) > maxAccountFile {
		return nil, fmt.Errorf("read /%s in the image: larger than %d bytes: %w", name, maxAccountFile, ErrTooLarge)
	}
	return b, nil
}
