package store

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Unlock releases a lock taken by one of the Lock methods.
type Unlock func()

func (s *Store) flock(name string, how int) (Unlock, error) {
	f, err := os.OpenFile(filepath.Join(s.root, name), os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock store: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock store: %w", err)
	}
	return func() { f.Close() }, nil // closing the file releases the flock
}

// LockShared takes the store lock shared, as every content writer (pull,
// mount) must for its whole duration. When no other process holds the lock
// at all, it first empties tmp/ of what crashed processes left behind.
func (s *Store) LockShared() (Unlock, error) {
	if un, err := s.flock("lock", unix.LOCK_EX|unix.LOCK_NB); err == nil {
		s.cleanTemp()
		un()
	}
	return s.flock("lock", unix.LOCK_SH)
}

// LockExclusive takes the store lock exclusive, as GC does.
func (s *Store) LockExclusive() (Unlock, error) {
	return s.flock("lock", unix.LOCK_EX)
}

// lockIndex serialises read-modify-write of index.json and containers/.
func (s *Store) lockIndex() (Unlock, error) {
	return s.flock("index.lock", unix.LOCK_EX)
}

// cleanTemp empties tmp/. Preconditions: the store lock is held exclusive.
func (s *Store) cleanTemp() {
	ents, _ := os.ReadDir(s.TempDir())
	for _, e := range ents {
		os.RemoveAll(filepath.Join(s.TempDir(), e.Name()))
	}
}
