package unionfs

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MountRequest is what a fuse-overlayfs style "-o" option string asks for.
type MountRequest struct {
	Config  Config
	Options []Option
	// FUSEOnly lists the options that stop the kernel driver from serving
	// the request (id mapping, squashing, passthrough); empty if it can.
	FUSEOnly []string
	// Ignored lists accepted options that do not apply to lamina.
	Ignored []string
	// ReadOnly is set by "ro".
	ReadOnly bool
	// Driver is set by "driver=auto|fuse|overlay" (for fstab and mount -t,
	// where no --driver flag can be passed); empty if not given.
	Driver Driver
	// RedirectDir is set by "redirect_dir=", which the kernel driver
	// passes on; empty if not given.
	RedirectDir RedirectDir
}

// ErrUnknownOption is returned for an option lamina does not know.
var ErrUnknownOption = errors.New("unknown option")

// ignoredOptions are accepted for compatibility (fuse-overlayfs, mount(8),
// mount.fuse3 and kernel overlayfs options) and have no effect.
var ignoredOptions = map[string]bool{
	"xattr_permissions": true, "threaded": true,
	"static_nlink": true, "noxattrs": true, "plugins": true, "fast_ino": true,
	"writeback": true, "index": true, "metacopy": true,
	"xino": true, "userxattr": true, "nfs_export": true, "uuid": true,
	"default_permissions": true, "allow_other": true, "allow_root": true,
	"max_read": true, "rw": true, "suid": true, "nosuid": true, "dev": true,
	"nodev": true, "exec": true, "noexec": true, "auto": true, "noauto": true,
	"user": true, "nouser": true, "users": true, "_netdev": true, "nofail": true,
	"atime": true, "noatime": true, "relatime": true, "norelatime": true,
	"strictatime": true, "nodiratime": true, "async": true, "defaults": true,
	"context": true, "fscontext": true, "defcontext": true, "rootcontext": true,
	"x-systemd": true, "comment": true,
}

// modeOptions parse the FUSE driver's on|off|auto options (for the
// read-ahead switches auto is on).
var modeOptions = map[string]func(val string, hasVal bool) (Option, error){
	"passthrough": modeOption(PassthroughOn, PassthroughOff, PassthroughAuto, WithPassthrough),
	"uring":       modeOption(URingOn, URingOff, URingAuto, WithURing),
	"dirahead":    modeOption(true, false, true, WithDirAhead),
	"fileahead":   modeOption(true, false, true, WithFileAhead),
	"readdirplus": modeOption(ReaddirPlusOn, ReaddirPlusOff, ReaddirPlusAuto, WithReaddirPlus),
}

// modeOption parses an on|off|auto value (see parseMode) into the option
// with makes.
func modeOption[T any](on, off, auto T, with func(T) Option) func(string, bool) (Option, error) {
	return func(val string, hasVal bool) (Option, error) {
		m, err := parseMode(val, hasVal, on, off, auto)
		return with(m), err
	}
}

// IgnoredOptionNames lists the accepted no-op options, for help texts.
func IgnoredOptionNames() []string {
	out := make([]string, 0, len(ignoredOptions))
	for k := range ignoredOptions {
		out = append(out, k)
	}
	return out
}

// ParseMountOptions parses comma-separated options, as given to one or more
// "-o" flags. Commas and colons inside paths can be escaped with a
// backslash, as for kernel overlayfs.
func ParseMountOptions(opts []string) (*MountRequest, error) {
	r := &MountRequest{}
	var squashUID, squashGID int64 = -1, -1
	var uids, gids IDMap
	for _, o := range opts {
		for _, kv := range splitEscaped(o, ',') {
			if kv == "" {
				continue
			}
			key, val, hasVal := strings.Cut(kv, "=")
			var err error
			switch key {
			case "lowerdir":
				for _, l := range splitEscaped(val, ':') {
					if l == "" {
						return nil, fmt.Errorf("parse lowerdir %q: empty layer", val)
					}
					r.Config.Lowers = append(r.Config.Lowers, unescape(l))
				}
			case "upperdir":
				r.Config.Upper = unescape(val)
			case "workdir":
				r.Config.Work = unescape(val)
			case "uidmapping":
				uids, err = ParseIDMap(val)
				r.FUSEOnly = append(r.FUSEOnly, key)
			case "gidmapping":
				gids, err = ParseIDMap(val)
				r.FUSEOnly = append(r.FUSEOnly, key)
			case "squash_to_root":
				squashUID, squashGID = 0, 0
				r.FUSEOnly = append(r.FUSEOnly, key)
			case "squash_to_uid":
				squashUID, err = parseID(key, val)
				r.FUSEOnly = append(r.FUSEOnly, key)
			case "squash_to_gid":
				squashGID, err = parseID(key, val)
				r.FUSEOnly = append(r.FUSEOnly, key)
			case "passthrough", "uring", "dirahead", "fileahead", "readdirplus":
				var opt Option
				opt, err = modeOptions[key](val, hasVal)
				r.Options = append(r.Options, opt)
				r.FUSEOnly = append(r.FUSEOnly, key)
			case "redirect_dir":
				var rd RedirectDir
				rd, err = ParseRedirectDir(val)
				r.Options = append(r.Options, WithRedirectDir(rd))
				r.RedirectDir = rd
			case "acl", "noacl":
				r.Options = append(r.Options, WithACL(key == "acl"))
			case "fsync":
				r.Options = append(r.Options, WithSync(val != "0"))
			case "volatile":
				r.Options = append(r.Options, WithSync(false))
			case "timeout":
				var secs float64
				secs, err = strconv.ParseFloat(val, 64)
				if err == nil && (secs < 0 || secs > 1e9) {
					err = errors.New("out of range")
				}
				r.Options = append(r.Options, WithCacheTimeout(time.Duration(secs*float64(time.Second))))
			case "fsname":
				r.Options = append(r.Options, WithFsName(val))
			case "ro":
				r.ReadOnly = true
			case "driver":
				r.Driver, err = ParseDriver(val)
			case "sync", "dirsync":
				r.Ignored = append(r.Ignored, key)
			default:
				if !ignoredOptions[key] && !strings.HasPrefix(key, "x-") {
					return nil, fmt.Errorf("%w %q", ErrUnknownOption, key)
				}
				r.Ignored = append(r.Ignored, key)
			}
			if err != nil {
				return nil, fmt.Errorf("parse option %s=%q: %w", key, val, err)
			}
		}
	}
	if len(uids) > 0 || len(gids) > 0 {
		r.Options = append(r.Options, WithIDMaps(uids, gids))
	}
	if squashUID >= 0 || squashGID >= 0 {
		r.Options = append(r.Options, WithSquash(squashUID, squashGID))
	}
	if len(r.Config.Lowers) == 0 {
		return nil, fmt.Errorf("parse options: lowerdir=TOP:...:BOTTOM is required")
	}
	return r, nil
}

func parseID(key, val string) (int64, error) {
	n, err := strconv.ParseUint(val, 10, 32)
	if err != nil {
		return 0, err
	}
	return int64(n), nil
}

// parseMode reads an on|off|auto option (1 and 0 too; a bare key is on).
func parseMode[T any](val string, hasVal bool, on, off, auto T) (T, error) {
	switch {
	case !hasVal || val == "on" || val == "1":
		return on, nil
	case val == "off" || val == "0":
		return off, nil
	case val == "auto":
		return auto, nil
	}
	var zero T
	return zero, errors.New("want on, off or auto")
}

// splitEscaped splits s at sep, except where sep follows a backslash.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unescape drops the backslashes that escape a character.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
