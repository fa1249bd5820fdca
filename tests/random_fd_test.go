package tests

import (
	"fmt"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// heldFDs are the descriptors that random fd ops keep open across other
// ops: per mount, a few numbered slots.
type heldFDs struct {
	mu  sync.Mutex
	fds map[string]map[int]int // mount -> slot -> descriptor
}

const heldSlots = 3

func newHeldFDs() *heldFDs { return &heldFDs{fds: map[string]map[int]int{}} }

func (h *heldFDs) get(mnt string, slot int) (int, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fd, ok := h.fds[mnt][slot]
	return fd, ok
}

// set stores fd in slot, closing what was there.
func (h *heldFDs) set(mnt string, slot, fd int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fds[mnt] == nil {
		h.fds[mnt] = map[int]int{}
	}
	if old, ok := h.fds[mnt][slot]; ok {
		unix.Close(old)
	}
	h.fds[mnt][slot] = fd
}

// drop closes slot and reports the close's result.
func (h *heldFDs) drop(mnt string, slot int) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fd, ok := h.fds[mnt][slot]
	if !ok {
		return false, nil
	}
	delete(h.fds[mnt], slot)
	return true, unix.Close(fd)
}

// closeAll closes every descriptor held on mnt, so that it can unmount.
func (h *heldFDs) closeAll(mnt string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, fd := range h.fds[mnt] {
		unix.Close(fd)
	}
	delete(h.fds, mnt)
}

// fdOp returns an op that opens p (or an O_TMPFILE file in p) into a slot,
// or uses a slot's descriptor: write, read, fstat, ftruncate, fchmod, link
// it as p, reopen it through /proc/self/fd, or close it. A slot that holds nothing gives
// "no fd" on both mounts alike.
func (g *randGen) fdOp(p string) op {
	h, slot := g.held, g.r.Intn(heldSlots)
	use := func(name string, f func(fd int) string) op {
		return op{name: fmt.Sprintf("fd%d %s", slot, name), fn: func(m string) string {
			fd, ok := h.get(m, slot)
			if !ok {
				return "no fd"
			}
			return f(fd)
		}}
	}
	switch x := g.r.Intn(100); {
	case x < 5:
		return op{name: fmt.Sprintf("fd%d = O_TMPFILE in %s", slot, p), fn: func(m string) string {
			fd, err := unix.Open(filepath.Join(m, p), unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o640)
			if err != nil {
				return errName(err)
			}
			h.set(m, slot, fd)
			return "ok"
		}}
	case x < 9:
		return op{name: fmt.Sprintf("fd%d link as %s", slot, p), fn: func(m string) string {
			fd, ok := h.get(m, slot)
			if !ok {
				return "no fd"
			}
			return errName(linkFd(fd, filepath.Join(m, p)))
		}}
	case x < 12:
		mode := g.pickMode(false)
		return use(fmt.Sprintf("fchmod %o", mode), func(fd int) string { return errName(unix.Fchmod(fd, mode)) })
	case x < 15:
		return use("reopen and read", func(fd int) string {
			rfd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|noBlock|unix.O_CLOEXEC, 0)
			if err != nil {
				return errName(err)
			}
			defer unix.Close(rfd)
			buf := make([]byte, 64)
			n, err := unix.Read(rfd, buf)
			if err != nil {
				return errName(err)
			}
			return "ok " + contentString(buf[:n])
		})
	case x < 35:
		flags := []int{unix.O_RDONLY, unix.O_RDWR, unix.O_WRONLY | unix.O_APPEND, unix.O_RDWR | unix.O_CREAT}[g.r.Intn(4)]
		return op{name: fmt.Sprintf("fd%d = open %s flags=%#o", slot, p, flags), fn: func(m string) string {
			fd, err := unix.Open(filepath.Join(m, p), flags|noBlock|unix.O_CLOEXEC, 0o644)
			if err != nil {
				return errName(err)
			}
			h.set(m, slot, fd)
			return "ok"
		}}
	case x < 50:
		data, off := g.data(), int64(g.r.Intn(10))
		return use(fmt.Sprintf("pwrite @%d %s", off, contentString([]byte(data))), func(fd int) string {
			n, err := unix.Pwrite(fd, []byte(data), off)
			return fmt.Sprintf("%s n=%d", errName(err), n)
		})
	case x < 70:
		return use("pread @0+64", func(fd int) string {
			buf := make([]byte, 64)
			n, err := unix.Pread(fd, buf, 0)
			if err != nil {
				return errName(err)
			}
			return "ok " + contentString(buf[:n])
		})
	case x < 80:
		return use("fstat", func(fd int) string {
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				return errName(err)
			}
			return describe(&st, "")
		})
	case x < 88:
		size := []int64{0, 3, 4096}[g.r.Intn(3)]
		return use(fmt.Sprintf("ftruncate %d", size), func(fd int) string {
			return errName(unix.Ftruncate(fd, size))
		})
	default:
		return op{name: fmt.Sprintf("fd%d close", slot), fn: func(m string) string {
			ok, err := h.drop(m, slot)
			if !ok {
				return "no fd"
			}
			return errName(err)
		}}
	}
}
