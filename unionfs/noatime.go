package unionfs

import (
	"fmt"

	"github.com/lamina-dev/lamina/whiteout"
	"golang.org/x/sys/unix"
)

// openLower opens a file or directory of a lower layer with O_NOATIME, as
// kernel overlayfs opens the layers it reads: reading through the union
// leaves the access times of the lowers alone (no inode written back for
// a read of an image's layer). The flag needs ownership of the file or
// CAP_FOWNER; without them (a rootless mount reading a file of an
// unmapped owner) the open goes without it.
func openLower(path string, flags int) (int, error) {
	fd, err := unix.Open(path, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = unix.Open(path, flags, 0)
	}
	return fd, err
}

// readLowerDir is whiteout.ReadDir on a directory of a lower layer,
// opened by openLower.
func readLowerDir(path string, xwh bool) ([]whiteout.Dirent, map[string]struct{}, error) {
	fd, err := openLower(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
	if err != nil {
		return nil, nil, fmt.Errorf("read dir %s: %w", path, err)
	}
	defer unix.Close(fd)
	return whiteout.ReadDirFd(fd, path, xwh)
}
