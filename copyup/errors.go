package copyup

import (
	"errors"

	"golang.org/x/sys/unix"
)

// ErrExists reports that the destination of a copy already exists. Errors
// returned with it also wrap the EEXIST errno, so they match [io/fs.ErrExist]
// as well.
var ErrExists = errors.New("destination exists")

// isErrno reports whether err is one of the given errnos.
func isErrno(err error, errnos ...unix.Errno) bool {
	var e unix.Errno
	if !errors.As(err, &e) {
		return false
	}
	for _, want := range errnos {
		if e == want {
			return true
		}
	}
	return false
}
