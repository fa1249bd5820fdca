package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lamina-dev/lamina/engine"
	"github.com/lamina-dev/lamina/oci/store"
	"github.com/lamina-dev/lamina/runtime"
)

// listContainers is "lamina ps" without an ID.
func listContainers(out io.Writer, rt *runtime.Runtime, storeRoot string, all bool, format string) error {
	st, err := store.Open(storeRoot)
	if err != nil {
		return err
	}
	infos, err := engine.List(st, rt, all)
	if err != nil {
		return err
	}
	if format == "json" {
		if infos == nil {
			infos = []engine.Info{}
		}
		return json.NewEncoder(out).Encode(infos)
	}
	now := time.Now()
	w := tabwriter.NewWriter(out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tNAME\tIMAGE\tCOMMAND\tCREATED\tSTATUS")
	for _, in := range infos {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", in.ID[:min(12, len(in.ID))], in.Name, in.Image, quoteCommand(in.Command),
			humanDuration(now.Sub(in.Created))+" ago", status(in, now))
	}
	return w.Flush()
}

// status is docker's STATUS column.
func status(in engine.Info, now time.Time) string {
	switch {
	case in.State == engine.StateRunning:
		return "Up " + humanDuration(now.Sub(in.Created))
	case in.State == engine.StateCreated:
		return "Created"
	case in.Exit == nil:
		return "Exited (unknown)"
	default:
		return fmt.Sprintf("Exited (%d) %s ago", in.Exit.Code, humanDuration(now.Sub(in.Exit.At)))
	}
}

// quoteCommand shows a command line as docker does, quoted and cut to 20
// characters.
func quoteCommand(args []string) string {
	s := strings.Join(args, " ")
	if r := []rune(s); len(r) > 20 {
		s = string(r[:19]) + "…"
	}
	return `"` + s + `"`
}

// humanDuration is docker's wording of an age: "Less than a second",
// "3 seconds", "About a minute", "5 minutes", "About an hour", "2 hours",
// "3 days", "2 weeks", "4 months", "2 years".
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Round(time.Hour).Hours()); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	case h < 24*7*2:
		return fmt.Sprintf("%d days", h/24)
	case h < 24*30*2:
		return fmt.Sprintf("%d weeks", h/24/7)
	case h < 24*365*2:
		return fmt.Sprintf("%d months", h/24/30)
	default:
		return fmt.Sprintf("%d years", h/24/365)
	}
}
