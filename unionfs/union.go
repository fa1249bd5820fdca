package unionfs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/lamina-dev/lamina/copyup"
	"github.com/lamina-dev/lamina/whiteout"
)

// Union is one configured union, ready to serve. Build it with New; serve
// it with Mount.
type Union struct {
	lowers  []string // absolute, top first
	upper   string   // absolute; "" for read-only
	work    string
	opts    options
	ino     inoMapper
	writer  *whiteout.Writer // nil when read-only
	copier  *copyup.Copier   // nil when read-only
	tmpSeq  atomic.Uint64    // names temp entries in <work>/work
	aliases sync.Map         // fs.StableAttr of a copied-up file -> identity of its live node, until it is forgotten
	euid    int              // the daemon's own ids, which new entries get unless chowned
	egid    int

	ahead        aheader      // directories read ahead (dirahead.go)
	fileAhead    fileAheader  // files read ahead (fileahead.go)
	plusBare     atomic.Int64 // READDIRPLUS entries given without attributes (readdirplus.go)
	plusFull     atomic.Int64 // and with them
	pendingMoves atomic.Int64 // nodes with a move set (pending.go); rel is cheap while 0
}

// New validates the layers and prepares a union. With an upper layer it
// empties <work>/work and probes which whiteout formats the upper's
// filesystem accepts.
func New(cfg Config, opts ...Option) (*Union, error) {
	o := defaults()
	for _, opt := range opts {
		opt(&o)
	}
	if len(cfg.Lowers) == 0 {
		return nil, ErrNoLowers
	}
	u := &Union{opts: o, euid: os.Geteuid(), egid: os.Getegid()}
	devs := make([]uint64, 0, len(cfg.Lowers)+1)
	for _, l := range cfg.Lowers {
		p, st, err := checkDir("lowerdir", l)
		if err != nil {
			return nil, err
		}
		u.lowers = append(u.lowers, p)
		devs = append(devs, st.Dev)
	}
	switch {
	case cfg.Upper == "" && cfg.Work != "":
		return nil, ErrWorkWithoutUp
	case cfg.Upper != "" && cfg.Work == "":
		return nil, ErrUpperWithoutWk
	}
	if cfg.Upper != "" {
		if err := u.setUpper(cfg.Upper, cfg.Work); err != nil {
			return nil, err
		}
		var st unix.Stat_t
		if err := unix.Stat(u.upper, &st); err != nil {
			return nil, fmt.Errorf("stat upperdir: %w", err)
		}
		devs = append([]uint64{st.Dev}, devs...)
	} else {
		devs = append([]uint64{devs[0]}, devs...)
	}
	u.ino = newInoMapper(devs)
	return u, nil
}

// setUpper validates upper and work and prepares the writers.
func (u *Union) setUpper(upper, work string) error {
	up, ust, err := checkDir("upperdir", upper)
	if err != nil {
		return err
	}
	wk, wst, err := checkDir("workdir", work)
	if err != nil {
		return err
	}
	if ust.Dev != wst.Dev {
		return &LayerError{Role: "workdir", Path: wk, Err: ErrCrossDevice}
	}
	if within(wk, up) || within(up, wk) {
		return &LayerError{Role: "workdir", Path: wk, Err: ErrNested}
	}
	if err := copyup.Clean(wk); err != nil {
		return fmt.Errorf("clean workdir: %w", err)
	}
	probe, err := os.MkdirTemp(filepath.Join(wk, "work"), "probe")
	if err != nil {
		return fmt.Errorf("create probe dir: %w", err)
	}
	defer os.RemoveAll(probe)
	w, err := whiteout.NewWriter(probe)
	if err != nil {
		return fmt.Errorf("probe whiteout formats: %w", err)
	}
	copts := []copyup.Option{copyup.WithXattrFilter(func(name string) bool { return !whiteout.IsPrivateXattr(name) })}
	if !u.opts.sync {
		copts = append(copts, copyup.NoSync())
	}
	c, err := copyup.New(wk, copts...)
	if err != nil {
		return fmt.Errorf("prepare copy-up: %w", err)
	}
	u.upper, u.work, u.writer, u.copier = up, wk, w, c
	return nil
}

// checkDir resolves p to an absolute path and checks it is a directory.
func checkDir(role, p string) (string, *unix.Stat_t, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", nil, &LayerError{Role: role, Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return "", nil, &LayerError{Role: role, Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", nil, &LayerError{Role: role, Path: p, Err: ErrNotDir}
	}
	return abs, &st, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// ReadOnly reports whether the union has no upper layer.
func (u *Union) ReadOnly() bool { return u.upper == "" }

// WhiteoutFormat describes the whiteout formats written to the upper, or
// "read-only".
func (u *Union) WhiteoutFormat() string {
	if u.writer == nil {
		return "read-only"
	}
	return u.writer.String()
}

// lowerPath is the path of rel in lower i.
func (u *Union) lowerPath(i int, rel string) string { return join(u.lowers[i], rel) }

// upperPath is the path of rel in the upper.
func (u *Union) upperPath(rel string) string { return join(u.upper, rel) }

func join(root, rel string) string {
	if rel == "" {
		return root
	}
	return root + "/" + rel
}
