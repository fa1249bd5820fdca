package unionfs

import "golang.org/x/sys/unix"

// dirFds holds open descriptors of one directory's copies in its layers,
// so that the lookups a listing brings (READDIRPLUS looks up every entry
// it returns) resolve each name from the directory instead of walking the
// layer's whole path again for each entry. A descriptor follows its
// directory: it keeps naming the directory a listing started in even if
// that is renamed or removed meanwhile, where a path would name whatever
// is there now.
//
// The zero value is ready; a nil *dirFds has no descriptors, and lookups
// through it walk paths. Not safe for concurrent use (go-fuse serialises
// the calls on one directory handle, its owner).
type dirFds struct {
	fds map[int]int // layer (0 upper, i+1 lower i) -> O_PATH descriptor, -1 if it failed to open
}

// at returns a descriptor of path, the directory's copy in layer, opening
// it on first use, or -1 when there is none (the caller walks the path).
func (d *dirFds) at(layer int, path string) int {
	if d == nil {
		return -1
	}
	if fd, ok := d.fds[layer]; ok {
		return fd
	}
	if d.fds == nil {
		d.fds = make(map[int]int, 2)
	}
	fd, err := unix.Open(path, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fd = -1
	}
	d.fds[layer] = fd
	return fd
}

// close closes every descriptor.
func (d *dirFds) close() {
	for _, fd := range d.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	d.fds = nil
}
