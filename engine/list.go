package engine

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Container states reported by List.
const (
	StateCreated = "created" // created by the runtime, not started
	StateRunning = "running"
	StateExited  = "exited"
)

// Info describes a container made by Start, as "lamina ps" lists it.
type Info struct {
	ID      string    `json:"id"` // store ID
	Name    string    `json:"name"`
	Image   string    `json:"image"`
	Command []string  `json:"command"`
	Created time.Time `json:"created"`
	State   string    `json:"state"` // StateCreated, StateRunning or StateExited
	Pid     int       `json:"pid,omitempty"`
	// Exit is the exit status of an exited container; nil when no process
	// saw it exit (its waiter was killed, or it predates exit records).
	Exit *store.Exit `json:"exit,omitempty"`
}

// List describes the containers made by Start, newest first; without all,
// only those that are created or running. The state comes from the
// runtime while it knows the container, else from the recorded exit.
func List(st *store.Store, rt *runtime.Runtime, all bool) ([]Info, error) {
	cs, err := st.Containers()
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []Info
	for _, c := range cs {
		if c.Name == "" {
			continue // a union mount made by lamina mount
		}
		in := Info{ID: c.ID, Name: c.Name, Image: c.Ref, Command: c.Command, Created: c.Created, State: StateExited, Exit: c.Exit}
		s, err := rt.State(c.Name)
		if err != nil && !errors.Is(err, runtime.ErrNotExist) {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		if err == nil {
			switch s.Status {
			case specs.StateRunning, runtime.StatePaused: // paused: "lamina pause NAME"
				in.State, in.Pid, in.Exit = StateRunning, s.Pid, nil
			case specs.StateCreated:
				in.State, in.Pid, in.Exit = StateCreated, s.Pid, nil
			}
		}
		if in.State == StateExited && !all {
			continue
		}
		out = append(out, in)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}
