package unionfs

import (
	"hash/fnv"
	"math/bits"

	"golang.org/x/sys/unix"
)

// inoMapper turns (layer, real inode) into the union's inode number; see
// "Inode numbers" in the package doc. Layer 0 is the upper, lower i is
// layer i+1.
type inoMapper struct {
	samefs bool
	shift  uint // xino: the layer number sits at bits shift and up
}

const (
	hashedBit = 1 << 63 // set on numbers hashed from a path
	reserved  = ^uint64(0)
)

// newInoMapper takes the st_dev of every layer, upper (or a stand-in)
// first.
func newInoMapper(devs []uint64) inoMapper {
	m := inoMapper{samefs: true}
	for _, d := range devs[1:] {
		if d != devs[0] {
			m.samefs = false
		}
	}
	// One bit stays clear at the top for hashed numbers.
	m.shift = uint(63 - bits.Len(uint(len(devs))))
	return m
}

// ino returns the union inode number of an entry found in layer at rel.
func (m inoMapper) ino(layer int, st *unix.Stat_t, rel string) uint64 {
	if m.samefs {
		if st.Ino&hashedBit == 0 && st.Ino > 1 {
			return st.Ino
		}
		return hashIno(layer, st.Ino, rel)
	}
	if st.Ino>>m.shift != 0 {
		return hashIno(layer, st.Ino, rel)
	}
	return uint64(layer)<<m.shift | st.Ino
}

// linkGen tells apart the names of a file hard-linked in a lower layer:
// they share st_ino, as in kernel overlayfs, but each is its own inode
// because copy-up splits them. The top bit keeps it clear of the real
// inode numbers used as generations of copied-up files.
func linkGen(layer int, ino uint64, rel string) uint64 {
	return hashIno(layer, ino, rel) | hashedBit
}

// hashIno derives a number in the hashed half of the range.
func hashIno(layer int, ino uint64, rel string) uint64 {
	h := fnv.New64a()
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(uint64(layer) >> (8 * i))
		b[8+i] = byte(ino >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(rel))
	n := h.Sum64() | hashedBit
	if n == reserved {
		n--
	}
	return n
}
