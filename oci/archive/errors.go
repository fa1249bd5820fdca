package archive

import "errors"

// ErrNotArchive: the input is not an image archive lamina can read: not a
// directory or tar (possibly compressed), a truncated or corrupt tar, or
// neither an OCI image layout nor a docker save archive.
var ErrNotArchive = errors.New("not an image archive")

// ErrNoName: an image in the archive has no name and --tag (WithTag) was not
// given, or WithTag was given for an archive of several images.
var ErrNoName = errors.New("image has no name")
