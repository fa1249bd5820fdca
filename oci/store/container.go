package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/lamina-dev/lamina/oci"
	"github.com/opencontainers/go-digest"
)

// Container records one union mount of an image, so that GC keeps its
// layers. Its on-disk form is containers/<ID>/container.json.
type Container struct {
	ID         string          `json:"id"`
	Ref        string          `json:"ref"`
	Manifest   digest.Digest   `json:"manifest"`
	Layers     []digest.Digest `json:"layers"` // diff_ids, bottom first
	Mountpoint string          `json:"mountpoint"`
	Upper      string          `json:"upper,omitempty"`
	Work       string          `json:"work,omitempty"`
	OwnUpper   bool            `json:"ownUpper"`          // upper and work live in containers/<ID>/
	Name       string          `json:"name,omitempty"`    // the runtime's container ID, for lamina run
	Created    time.Time       `json:"created"`           // set by CreateContainer (UTC)
	Command    []string        `json:"command,omitempty"` // lamina run: the container's process args
	Exit       *Exit           `json:"exit,omitempty"`    // lamina run: set once the process has exited
}

// Exit is how a container's process ended.
type Exit struct {
	Code int       `json:"code"` // exit status, 128+N when killed by signal N
	At   time.Time `json:"at"`   // when it was seen to exit (UTC)
}

// LogFile is the name, inside a container's directory, of the file that
// receives a detached container's stdout and stderr ("lamina run -d").
const LogFile = "container.log"

// ContainerDir returns the directory of container id.
func (s *Store) ContainerDir(id string) string { return filepath.Join(s.root, "containers", id) }

// CreateContainer makes containers/<id>/ for c, with a fresh upper/ and
// work/ when ownUpper (c.Upper and c.Work are filled in), and writes its
// record. c.ID is chosen here.
func (s *Store) CreateContainer(c *Container, ownUpper bool) error {
	un, err := s.lockIndex()
	if err != nil {
		return err
	}
	defer un()
	c.ID = randomHex() + randomHex()
	c.Created = time.Now().UTC()
	dir := s.ContainerDir(c.ID)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	if ownUpper {
		c.OwnUpper = true
		c.Upper, c.Work = filepath.Join(dir, "upper"), filepath.Join(dir, "work")
		for _, d := range []string{c.Upper, c.Work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return fmt.Errorf("create container: %w", err)
			}
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	rel, _ := filepath.Rel(s.root, filepath.Join(dir, "container.json"))
	if err := s.writeFile(rel, b); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	return nil
}

// SaveContainer rewrites the record of a container CreateContainer made
// (atomically: temporary file, then rename).
func (s *Store) SaveContainer(c *Container) error {
	if c.ID == "" || filepath.Base(c.ID) != c.ID {
		return fmt.Errorf("save container %q: %w", c.ID, oci.ErrNotFound)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	rel, _ := filepath.Rel(s.root, filepath.Join(s.ContainerDir(c.ID), "container.json"))
	if err := s.writeFile(rel, b); err != nil {
		return fmt.Errorf("save container: %w", err)
	}
	return nil
}

// Containers lists the container records, sorted by ID.
func (s *Store) Containers() ([]Container, error) {
	ents, err := os.ReadDir(filepath.Join(s.root, "containers"))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []Container
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(s.ContainerDir(e.Name()), "container.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // being created or removed
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		var c Container
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("list containers: %s: %w", e.Name(), err)
		}
		if err := c.check(); err != nil {
			return nil, fmt.Errorf("list containers: %s: %w", e.Name(), err)
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// check rejects a record whose digests are malformed (a hand-edited
// container.json), before anything derives a path from them.
func (c *Container) check() error {
	if c.Manifest != "" {
		if err := checkDigest(c.Manifest); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
	}
	for i, d := range c.Layers {
		if err := checkDigest(d); err != nil {
			return fmt.Errorf("layers[%d]: %w", i, err)
		}
	}
	return nil
}

// RemoveContainer deletes container id's record and directory (with its
// upper, when the store made it).
func (s *Store) RemoveContainer(id string) error {
	if id == "" || filepath.Base(id) != id {
		return fmt.Errorf("remove container %q: %w", id, oci.ErrNotFound)
	}
	un, err := s.lockIndex()
	if err != nil {
		return err
	}
	defer un()
	return s.removeDir(s.ContainerDir(id))
}
