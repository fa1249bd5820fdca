package unionfs

import (
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// blockingFS is a raw file system whose requests report that they
// entered and then wait to be let go.
type blockingFS struct {
	fuse.RawFileSystem
	entered chan string
	release chan struct{}
}

func (b *blockingFS) wait(op string) fuse.Status {
	b.entered <- op
	<-b.release
	return fuse.OK
}

func (b *blockingFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	return b.wait("lookup " + name)
}

func (b *blockingFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return b.wait("unlink " + name)
}

func (b *blockingFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return b.wait("rmdir " + name)
}

func (b *blockingFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	return b.wait("rename " + oldName)
}

// TestNameLocks: a rename, unlink or rmdir in a directory waits for the
// lookups in flight there (go-fuse's tree update included) and the lookups
// that come after it wait for it; lookups run together, and requests in
// other directories go on.
func TestNameLocks(t *testing.T) {
	const dir, other = 5, 6
	hdr := func(node uint64) *fuse.InHeader { return &fuse.InHeader{NodeId: node} }
	tests := []struct {
		name   string
		change func(l *nameLocks)
	}{
		{"rename from", func(l *nameLocks) {
			l.Rename(nil, &fuse.RenameIn{InHeader: *hdr(dir), Newdir: other}, "f", "g")
		}},
		{"rename into", func(l *nameLocks) {
			l.Rename(nil, &fuse.RenameIn{InHeader: *hdr(other), Newdir: dir}, "f", "g")
		}},
		{"unlink", func(l *nameLocks) { l.Unlink(nil, hdr(dir), "f") }},
		{"rmdir", func(l *nameLocks) { l.Rmdir(nil, hdr(dir), "f") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &blockingFS{entered: make(chan string, 8), release: make(chan struct{})}
			l := newNameLocks(b)
			entered := func(want string) {
				t.Helper()
				select {
				case got := <-b.entered:
					if got != want {
						t.Fatalf("entered %q, want %q", got, want)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%q never entered", want)
				}
			}
			quiet := func() {
				t.Helper()
				select {
				case got := <-b.entered:
					t.Fatalf("%q entered while it should wait", got)
				case <-time.After(50 * time.Millisecond):
				}
			}
			var out fuse.EntryOut
			go l.Lookup(nil, hdr(dir), "a", &out)
			entered("lookup a")
			go l.Lookup(nil, hdr(dir), "b", &out)
			entered("lookup b") // lookups share the directory
			go tc.change(l)
			quiet() // waits for both lookups
			go l.Lookup(nil, hdr(dir+nameStripes+1), "c", &out)
			entered("lookup c") // another stripe
			b.release <- struct{}{}
			b.release <- struct{}{}
			b.release <- struct{}{}
			select {
			case got := <-b.entered:
				if got[:len("lookup")] == "lookup" {
					t.Fatalf("%q entered before the change", got)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the change never entered")
			}
			go l.Lookup(nil, hdr(dir), "d", &out)
			quiet() // a later lookup waits for the change
			b.release <- struct{}{}
			entered("lookup d")
			b.release <- struct{}{}
		})
	}
}
