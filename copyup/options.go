package copyup

import "maps"

// Option configures a [Copier].
type Option func(*options)

// options holds every setting of a Copier. defaults is the only place that
// sets their initial values.
type options struct {
	sync        bool                   // fsync the temp entry before publishing
	keepXattr   func(name string) bool // true keeps a source xattr
	strictOwner bool                   // an lchown EPERM/EINVAL fails the copy
	extraXattrs map[string][]byte      // set on every copy, before the call's extras
}

func defaults() options {
	return options{
		sync:        true,
		keepXattr:   func(string) bool { return true },
		strictOwner: false,
	}
}

// NoSync skips the fsync before publishing. A copy is still never torn after
// a process crash, but may miss data after a power loss. See the package doc.
func NoSync() Option {
	return func(o *options) { o.sync = false }
}

// WithXattrFilter sets the filter applied to the source's extended attribute
// names: an attribute is copied only if keep returns true. The union passes a
// filter that drops its private attributes (trusted.overlay.* and the like).
// A nil keep restores the default, which keeps everything.
func WithXattrFilter(keep func(name string) bool) Option {
	return func(o *options) {
		if keep == nil {
			keep = defaults().keepXattr
		}
		o.keepXattr = keep
	}
}

// WithStrictOwner makes a failing lchown (EPERM, or EINVAL for an id that is
// not mapped in the user namespace) fail the copy. By default (false) the
// copy keeps the daemon's own ownership, which is what a rootless union gets.
func WithStrictOwner(strict bool) Option {
	return func(o *options) { o.strictOwner = strict }
}

// WithExtraXattrs sets extended attributes on every copy before it is
// published, after the source's own attributes. The extra argument of
// [Copier.Copy] is applied after these and wins on a name clash. The map is
// copied.
func WithExtraXattrs(x map[string][]byte) Option {
	return func(o *options) { o.extraXattrs = maps.Clone(x) }
}
