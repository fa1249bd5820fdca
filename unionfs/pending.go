package unionfs

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/hanwen/go-fuse/v2/fs"
	"golang.org/x/sys/unix"
)

// A rename or remove changes the layers inside our handler, but go-fuse
// records the change in its tree of names, which rel reads, only after the
// handler returns. In between, a request on the moved node, or on any node
// below a moved directory, would compute the old path: open a whiteout
// left there (ENXIO) or, worse, change the entry that now has the name.
// The handler therefore holds the node's lock across the change on disk
// and records the change on the node (setMove) before it lets go, and rel
// follows the record until go-fuse's tree shows the change. A request that
// holds the node's lock while it uses the path sees the entry before the
// change or after it.
//
// go-fuse could also attach a node under a name it no longer has, were a
// lookup answered before a rename registered after it; nameLocks orders
// the two (namelock.go).

// move is a namespace change of one node that go-fuse's tree may not show
// yet: the node was the child from/fromName, and is now to/toName, or
// nowhere when to is nil (removed).
type move struct {
	from     *fs.Inode
	fromName string
	to       *fs.Inode
	toName   string
}

// setMove records m on n (see move).
func (n *node) setMove(m *move) {
	if n.moved.Swap(m) == nil {
		n.u.pendingMoves.Add(1)
	}
}

// clearMove drops the record m from n, if it is still n's.
func (n *node) clearMove(m *move) {
	if n.moved.CompareAndSwap(m, nil) {
		n.u.pendingMoves.Add(-1)
	}
}

// rel is the node's path relative to the union root ("" for the root). An
// unlinked node yields a path that exists in no layer.
func (n *node) rel() string {
	if n.u.pendingMoves.Load() == 0 {
		return n.Path(n.Root())
	}
	root := n.Root()
	var segs []string
	for in := &n.Inode; in != root; {
		name, parent, recorded := "", (*fs.Inode)(nil), false
		if nd, ok := in.Operations().(*node); ok {
			if m := nd.moved.Load(); m != nil {
				if m.from.GetChild(m.fromName) == in {
					name, parent, recorded = m.toName, m.to, true // not in the tree yet
				} else {
					nd.clearMove(m) // the tree has caught up
				}
			}
		}
		if !recorded {
			// Read after the check above: go-fuse may move the node in
			// the tree at any moment, and a parent read before the check
			// could be the old one while the check sees the new tree.
			name, parent = in.Parent()
		}
		if parent == nil {
			return fmt.Sprintf(".lamina.%d/removed", rand.Uint64())
		}
		segs = append(segs, name)
		in = parent
	}
	for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
		segs[i], segs[j] = segs[j], segs[i]
	}
	return strings.Join(segs, "/")
}

var _ = (fs.NodeOnForgetter)((*node)(nil))

// OnForget drops what the node kept for requests the kernel will never
// send again: its move record, the descriptor of its removed copy, and the
// alias of its copied-up identity (a later lookup makes a node of that
// identity, which reports the same st_ino, the origin's).
func (n *node) OnForget() {
	if id := n.alias.Swap(nil); id != nil {
		n.u.aliases.CompareAndDelete(*id, n.StableAttr())
	}
	if m := n.moved.Load(); m != nil {
		n.clearMove(m)
	}
	if fd := n.goneFd.Swap(0); fd > 0 {
		unix.Close(int(fd))
	}
}
