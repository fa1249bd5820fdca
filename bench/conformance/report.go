package conformance

import (
	"fmt"
	"io"
	"strings"
)

// Report is one run of the suite against several runtimes.
type Report struct {
	Suite    *Suite
	Runtimes []Runtime
	Versions map[string]string // runtime name -> its --version, first line
	Machine  string            // kernel, cgroup layout
	Results  map[string]map[string]*Result
}

// Totals counts the verdicts of runtime name.
func (r *Report) Totals(name string) map[Verdict]int {
	t := map[Verdict]int{}
	for _, byRT := range r.Results {
		if res := byRT[name]; res != nil {
			t[res.Verdict]++
		}
	}
	return t
}

// WriteMarkdown writes the report as the markdown of
// bench/results/conformance.md.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# OCI runtime conformance: runtime-tools validation suite\n\n")
	fmt.Fprintf(&b, "Written by `make conformance` (bench/cmd/conformance; see package bench/conformance for the method and the verdict rules).\n\n")
	fmt.Fprintf(&b, "- suite: %s@%s, %d programs, built from the Go module proxy\n", Module, r.Suite.Version, len(r.Suite.Tests))
	for _, rt := range r.Runtimes {
		fmt.Fprintf(&b, "- %s: %s\n", rt.Name, r.Versions[rt.Name])
	}
	fmt.Fprintf(&b, "- machine: %s\n\n", r.Machine)
	fmt.Fprintf(&b, "| runtime | pass | fail | skip |\n|---|---|---|---|\n")
	for _, rt := range r.Runtimes {
		t := r.Totals(rt.Name)
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", rt.Name, t[Pass], t[Fail], t[Skip])
	}
	fmt.Fprintf(&b, "\nA cell is the verdict, then the program's TAP counts (ok lines include skips; an error is a failure diagnostic outside any test line).\n\n")
	fmt.Fprintf(&b, "| test |")
	for _, rt := range r.Runtimes {
		fmt.Fprintf(&b, " %s |", rt.Name)
	}
	fmt.Fprintf(&b, " why it fails |\n|---|")
	for range r.Runtimes {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, test := range r.Suite.Tests {
		fmt.Fprintf(&b, "| %s |", test)
		failed := false
		for _, rt := range r.Runtimes {
			res := r.Results[test][rt.Name]
			fmt.Fprintf(&b, " %s |", cell(res))
			failed = failed || res == nil || res.Verdict == Fail
		}
		note := ""
		if failed {
			note = Notes[test]
		}
		fmt.Fprintf(&b, " %s |\n", note)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func cell(r *Result) string {
	if r == nil {
		return "not run"
	}
	c := r.Counts
	parts := []string{fmt.Sprintf("%d ok", c.Ok)}
	if c.NotOk > 0 {
		parts = append(parts, fmt.Sprintf("%d not ok", c.NotOk))
	}
	if c.Skip > 0 {
		parts = append(parts, fmt.Sprintf("%d skip", c.Skip))
	}
	if c.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%d error", c.Errors))
	}
	switch {
	case r.ExitCode == -1:
		parts = append(parts, "timed out")
	case r.ExitCode != 0:
		parts = append(parts, fmt.Sprintf("exit %d", r.ExitCode))
	}
	v := string(r.Verdict)
	if r.Verdict == Fail {
		v = "**FAIL**"
	}
	return v + " (" + strings.Join(parts, ", ") + ")"
}
