package unionfs

import (
	"errors"
	"fmt"
	"time"
)

// Config names the layers of a union.
type Config struct {
	// Lowers are the read-only layers, top first. At least one.
	Lowers []string
	// Upper is the writable layer; empty for a read-only union.
	Upper string
	// Work is scratch space on Upper's filesystem; required with Upper.
	Work string
}

// Passthrough selects FUSE passthrough for opened files.
type Passthrough int

const (
	// PassthroughAuto uses passthrough when the kernel grants it.
	PassthroughAuto Passthrough = iota
	// PassthroughOn asks for passthrough; it still falls back if refused.
	PassthroughOn
	// PassthroughOff never uses passthrough.
	PassthroughOff
)

// URing selects FUSE over io_uring for requests.
type URing int

const (
	// URingAuto uses io_uring queues when the kernel offers them.
	URingAuto URing = iota
	// URingOn requires them: the mount fails when the kernel has them off.
	URingOn
	// URingOff serves every request through /dev/fuse.
	URingOff
)

// ReaddirPlus selects what READDIRPLUS replies carry (see readdirplus.go).
type ReaddirPlus int

const (
	// ReaddirPlusAuto gives the attributes of the entries of directories
	// a walk reaches in order, and of the rest of any listing once the
	// reader looks up what it was given; names alone otherwise. Without
	// directory read-ahead, which sees the walks, it is ReaddirPlusOn.
	ReaddirPlusAuto ReaddirPlus = iota
	// ReaddirPlusOn gives the attributes of every entry listed.
	ReaddirPlusOn
	// ReaddirPlusOff turns READDIRPLUS off: the kernel sends plain READDIR
	// and looks up each entry it needs.
	ReaddirPlusOff
)

// Option changes how a union is served.
type Option func(*options)

type options struct {
	passthrough Passthrough
	uring       URing
	dirAhead    bool
	fileAhead   bool
	plus        ReaddirPlus
	uidMap      IDMap
	gidMap      IDMap
	squashUID   int64 // -1: none
	squashGID   int64 // -1: none
	sync        bool
	debug       bool
	timeout     time.Duration
	fsName      string
	allowOther  bool
	acl         bool
	redirect    RedirectDir
}

// defaults holds every default in one place.
func defaults() options {
	return options{
		passthrough: PassthroughAuto,
		uring:       URingAuto,
		dirAhead:    true,
		fileAhead:   true,
		squashUID:   -1,
		squashGID:   -1,
		sync:        true,
		timeout:     time.Hour,
		fsName:      "lamina",
		allowOther:  true,
		acl:         true,
		redirect:    RedirectOff,
	}
}

// WithPassthrough sets the passthrough mode (default PassthroughAuto).
func WithPassthrough(p Passthrough) Option { return func(o *options) { o.passthrough = p } }

// WithURing sets the io_uring mode (default URingAuto). Debug output
// (WithDebug) needs every request on /dev/fuse, so it turns io_uring off.
func WithURing(m URing) Option { return func(o *options) { o.uring = m } }

// WithDirAhead turns directory read-ahead on or off (default on): when a
// directory without an upper copy is listed, the directories it holds are
// listed and their entries looked up in the background, and the lookups
// READDIRPLUS makes in a large one that was not read ahead run several at
// once (see dirahead.go). Off saves that work where directories are
// listed without being walked.
func WithDirAhead(on bool) Option { return func(o *options) { o.dirAhead = on } }

// WithFileAhead turns file read-ahead on or off (default on): when the
// files of a directory without an upper copy are opened one after another,
// the next ones are read into the page cache in the background (see
// fileahead.go). Off saves that I/O where files are read in order but
// only in part.
func WithFileAhead(on bool) Option { return func(o *options) { o.fileAhead = on } }

// WithReaddirPlus sets what READDIRPLUS replies carry (default
// ReaddirPlusAuto).
func WithReaddirPlus(m ReaddirPlus) Option { return func(o *options) { o.plus = m } }

// WithIDMaps maps owners between the union (container) view and the
// layers (host), as fuse-overlayfs's uidmapping and gidmapping do.
func WithIDMaps(uids, gids IDMap) Option {
	return func(o *options) { o.uidMap, o.gidMap = uids, gids }
}

// WithSquash reports every file as owned by uid and gid (-1 leaves one as
// is), as fuse-overlayfs's squash_to_uid, squash_to_gid and squash_to_root.
func WithSquash(uid, gid int64) Option {
	return func(o *options) { o.squashUID, o.squashGID = uid, gid }
}

// WithSync makes copy-up fsync data before publishing it (default true).
// Turning it off trades durability across power loss for speed; a crash of
// the daemon alone still never exposes a torn file.
func WithSync(sync bool) Option { return func(o *options) { o.sync = sync } }

// WithDebug logs every FUSE request to stderr (go-fuse's debug output).
func WithDebug(debug bool) Option { return func(o *options) { o.debug = debug } }

// WithCacheTimeout sets the kernel's entry, attribute and negative-entry
// cache timeout (default one hour; layers change only through the mount).
func WithCacheTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithFsName sets the source name shown in /proc/mounts (default "lamina").
func WithFsName(name string) Option { return func(o *options) { o.fsName = name } }

// WithAllowOther lets users other than the mounter use the mount when the
// mounter may grant that (default true; root always may).
func WithAllowOther(allow bool) Option { return func(o *options) { o.allowOther = allow } }

// WithACL turns POSIX ACLs on or off (default on). On, the kernel enforces
// the ACLs that files carry in system.posix_acl_access, and new entries
// inherit their directory's default ACL, which then overrides the umask,
// as on kernel overlayfs. Off, as fuse-overlayfs's noacl: permissions come
// from the mode bits alone; the kernel passes ACL xattrs through as opaque
// values on a mount made in the initial user namespace, and refuses them
// (EOPNOTSUPP) on one made in another.
func WithACL(on bool) Option { return func(o *options) { o.acl = on } }

// RedirectDir says whether the union renames directories that exist in a
// lower layer by recording a redirect, and whether it follows the
// redirects it finds in the layers, as kernel overlayfs's option of the
// same name does (see "Redirects" in the package doc).
type RedirectDir string

const (
	// RedirectOn renames lower directories with a redirect and follows
	// redirects.
	RedirectOn RedirectDir = "on"
	// RedirectFollow follows redirects; renaming a lower directory gets
	// EXDEV.
	RedirectFollow RedirectDir = "follow"
	// RedirectOff is RedirectFollow, as kernel overlayfs's "off" is with
	// its default redirect_always_follow=Y: the default.
	RedirectOff RedirectDir = "off"
	// RedirectNoFollow ignores redirects: a directory's lower copies are
	// found under its own name; renaming a lower directory gets EXDEV.
	RedirectNoFollow RedirectDir = "nofollow"
)

// ParseRedirectDir reads a redirect_dir= value.
func ParseRedirectDir(s string) (RedirectDir, error) {
	switch r := RedirectDir(s); r {
	case RedirectOn, RedirectFollow, RedirectOff, RedirectNoFollow:
		return r, nil
	}
	return "", fmt.Errorf("redirect_dir %q: want on, follow, off or nofollow", s)
}

// follows reports whether redirects found in the layers are followed.
func (r RedirectDir) follows() bool { return r != RedirectNoFollow }

// WithRedirectDir sets the redirect mode (default RedirectOff).
func WithRedirectDir(r RedirectDir) Option { return func(o *options) { o.redirect = r } }

// Errors of configuration. Callers match them with errors.Is; the returned
// error names the offending path.
var (
	ErrNoLowers        = errors.New("at least one lower directory is required")
	ErrNotDir          = errors.New("not a directory")
	ErrWorkWithoutUp   = errors.New("workdir needs upperdir")
	ErrUpperWithoutWk  = errors.New("upperdir needs workdir")
	ErrCrossDevice     = errors.New("upperdir and workdir are on different filesystems")
	ErrNested          = errors.New("upperdir and workdir must not contain each other")
	ErrMountpointInUse = errors.New("mountpoint is already a mount")
	// ErrOverlayDenied: the kernel driver was asked for by a caller that
	// may not mount overlayfs (not root, and in no user namespace of its
	// own).
	ErrOverlayDenied = errors.New("the kernel driver needs root, or root of a user namespace of one's own (unshare -Urm); the fuse driver, or auto, works here")
)

// LayerError says which layer directory is unusable and why.
type LayerError struct {
	Role string // "lowerdir", "upperdir", "workdir" or "mountpoint"
	Path string
	Err  error
}

func (e *LayerError) Error() string { return fmt.Sprintf("%s %s: %v", e.Role, e.Path, e.Err) }
func (e *LayerError) Unwrap() error { return e.Err }
