package copyup

import "sync"

// The methods a refusal is remembered for.
const (
	refusedClone = iota // FICLONE
	refusedCFR          // copy_file_range
	refusedMethods
)

// refusals remembers, per source filesystem (st_dev), which copy methods
// the kernel refused into the Copier's work directory with an errno that
// speaks of the filesystems rather than of the file (EOPNOTSUPP, EXDEV,
// ENOTTY, ENOSYS), so that later copies from the same filesystem skip the
// doomed call: FICLONE fails on every copy-up on ext4. Knowing a refusal
// only changes which method is tried first, never what is copied; a stale
// entry (a device number reused by another filesystem) costs speed, not
// correctness. A nil *refusals knows nothing and records nothing.
type refusals struct {
	devs [refusedMethods]sync.Map // st_dev (uint64) -> struct{}
}

// has reports whether method was refused for sources on dev.
func (r *refusals) has(method int, dev uint64) bool {
	if r == nil {
		return false
	}
	_, ok := r.devs[method].Load(dev)
	return ok
}

// add records that method was refused for sources on dev.
func (r *refusals) add(method int, dev uint64) {
	if r != nil {
		r.devs[method].Store(dev, struct{}{})
	}
}
