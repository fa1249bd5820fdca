package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
)

// newRecords makes a store with one container record per name (made in
// that order, so the last is the newest); exit codes are recorded for the
// names in exits.
func newRecords(t *testing.T, names []string, exits map[string]int) (*store.Store, []*store.Container) {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out []*store.Container
	for i, n := range names {
		c := &store.Container{Ref: "example.com/img:" + n, Name: n, Command: []string{"sleep", "1"}}
		if err := st.CreateContainer(c, true); err != nil {
			t.Fatal(err)
		}
		c.Created = time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC)
		if code, ok := exits[n]; ok {
			c.Exit = &store.Exit{Code: code, At: c.Created.Add(time.Second)}
		}
		if err := st.SaveContainer(c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return st, out
}

func TestList(t *testing.T) {
	st, _ := newRecords(t, []string{"old", "mid", "new"}, map[string]int{"old": 143, "new": 0})
	// A union mount made by lamina mount has no name and is never listed.
	if err := st.CreateContainer(&store.Container{Ref: "example.com/img:mount"}, true); err != nil {
		t.Fatal(err)
	}
	rt, err := runtime.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		all   bool
		want  []string
		codes map[string]int // -1: no exit recorded
	}{
		{name: "running only", all: false, want: nil},
		{name: "all newest first", all: true, want: []string{"new", "mid", "old"}, codes: map[string]int{"new": 0, "mid": -1, "old": 143}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			infos, err := List(st, rt, c.all)
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != len(c.want) {
				t.Fatalf("List = %+v, want names %v", infos, c.want)
			}
			for i, in := range infos {
				if in.Name != c.want[i] || in.State != StateExited {
					t.Errorf("infos[%d] = %s %s, want %s exited", i, in.Name, in.State, c.want[i])
				}
				code := -1
				if in.Exit != nil {
					code = in.Exit.Code
				}
				if code != c.codes[in.Name] {
					t.Errorf("%s: exit %d, want %d", in.Name, code, c.codes[in.Name])
				}
			}
		})
	}
}

func TestFind(t *testing.T) {
	st, cs := newRecords(t, []string{"web"}, nil)
	cases := []struct {
		name    string
		arg     string
		wantErr error
	}{
		{name: "by name", arg: "web"},
		{name: "by store ID", arg: cs[0].ID},
		{name: "unknown", arg: "nope", wantErr: ErrNoContainer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Find(st, c.arg)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Find(%q) error %v, want %v", c.arg, err, c.wantErr)
			}
			if err == nil && got.ID != cs[0].ID {
				t.Errorf("Find(%q) = %s, want %s", c.arg, got.ID, cs[0].ID)
			}
		})
	}
}

func TestWaiterLockAndLogs(t *testing.T) {
	st, cs := newRecords(t, []string{"web"}, nil)
	c := cs[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := Logs(ctx, st, "web", &bytes.Buffer{}, false); !errors.Is(err, ErrNoLog) {
		t.Fatalf("Logs without a log file: %v, want ErrNoLog", err)
	}
	if err := os.WriteFile(LogPath(st, c), []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if waiterActive(st, c.ID) {
		t.Fatal("waiter active before anyone locked")
	}
	w, err := lockWaiter(st, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !waiterActive(st, c.ID) {
		t.Fatal("waiter not seen while locked")
	}
	// Follow while the waiter holds the lock: more output arrives, then
	// the waiter lets go and Logs returns with everything.
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() { done <- Logs(ctx, st, "web", &out, true) }()
	f, err := os.OpenFile(LogPath(st, c), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("two\n")
	f.Close()
	select {
	case err := <-done:
		t.Fatalf("Logs -f returned while the waiter held the lock: %v", err)
	case <-time.After(3 * followInterval):
	}
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out.String() != "one\ntwo\n" {
		t.Errorf("Logs -f = %q, want %q", out.String(), "one\ntwo\n")
	}
}
