package main

import (
	"testing"
	"time"

	"github.com/lamina-dev/lamina/engine"
	"github.com/lamina-dev/lamina/oci/store"
)

func TestHumanDuration(t *testing.T) {
	cases := []struct {
		name string
		d    time.Duration
		want string
	}{
		{name: "under a second", d: 300 * time.Millisecond, want: "Less than a second"},
		{name: "one second", d: time.Second, want: "1 second"},
		{name: "seconds", d: 42 * time.Second, want: "42 seconds"},
		{name: "a minute", d: 90 * time.Second, want: "About a minute"},
		{name: "minutes", d: 3 * time.Minute, want: "3 minutes"},
		{name: "an hour", d: 70 * time.Minute, want: "About an hour"},
		{name: "hours", d: 5 * time.Hour, want: "5 hours"},
		{name: "days", d: 72 * time.Hour, want: "3 days"},
		{name: "weeks", d: 21 * 24 * time.Hour, want: "3 weeks"},
		{name: "months", d: 100 * 24 * time.Hour, want: "3 months"},
		{name: "years", d: 3 * 365 * 24 * time.Hour, want: "3 years"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := humanDuration(c.d); got != c.want {
				t.Errorf("humanDuration(%v) = %q, want %q", c.d, got, c.want)
			}
		})
	}
}

func TestStatusColumn(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		in   engine.Info
		want string
	}{
		{name: "running", in: engine.Info{State: engine.StateRunning, Created: now.Add(-3 * time.Minute)}, want: "Up 3 minutes"},
		{name: "created", in: engine.Info{State: engine.StateCreated, Created: now}, want: "Created"},
		{name: "exited", in: engine.Info{State: engine.StateExited, Exit: &store.Exit{Code: 143, At: now.Add(-5 * time.Second)}}, want: "Exited (143) 5 seconds ago"},
		{name: "exit never seen", in: engine.Info{State: engine.StateExited}, want: "Exited (unknown)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := status(c.in, now); got != c.want {
				t.Errorf("status = %q, want %q", got, c.want)
			}
		})
	}
}

func TestQuoteCommand(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{name: "short", args: []string{"sleep", "10"}, want: `"sleep 10"`},
		{name: "cut at 20", args: []string{"/bin/sh", "-c", "echo hello world"}, want: `"/bin/sh -c echo hel…"`},
		{name: "empty", args: nil, want: `""`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := quoteCommand(c.args); got != c.want {
				t.Errorf("quoteCommand(%q) = %s, want %s", c.args, got, c.want)
			}
		})
	}
}
