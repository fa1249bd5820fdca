package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// Results are the measurements of one run of the benchmark.
type Results struct {
	// Configs and Workloads name the columns and the rows of Cells.
	Configs   []string
	Workloads []WorkloadInfo
	// Cells is indexed [workload][config].
	Cells [][]Cell
	Runs  int
	Facts []Fact
	// Notes are remarks for the report: configurations left out and why.
	Notes []string
}

// WorkloadInfo labels a row.
type WorkloadInfo struct {
	Name, Title, Short string
}

// Cell holds the times of one workload on one configuration, in seconds, or
// why there are none.
type Cell struct {
	Times []float64
	NA    string
}

// Median returns the median time and whether there is one.
func (c Cell) Median() (float64, bool) {
	if c.NA != "" || len(c.Times) == 0 {
		return 0, false
	}
	return median(c.Times), true
}

// median returns the middle value of xs, or the mean of the two middle
// values when len(xs) is even. It does not modify xs; it is 0 for no values.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (r *Results) configIndex(name string) int { return slices.Index(r.Configs, name) }

func (r *Results) workloadIndex(name string) int {
	return slices.IndexFunc(r.Workloads, func(w WorkloadInfo) bool { return w.Name == name })
}

// Median returns the median of a workload on a configuration, by name.
func (r *Results) Median(workload, config string) (float64, bool) {
	wi, ci := r.workloadIndex(workload), r.configIndex(config)
	if wi < 0 || ci < 0 {
		return 0, false
	}
	return r.Cells[wi][ci].Median()
}

// Ratio returns the median of a workload on config divided by its median on
// other.
func (r *Results) Ratio(workload, config, other string) (float64, bool) {
	a, ok1 := r.Median(workload, config)
	b, ok2 := r.Median(workload, other)
	if !ok1 || !ok2 || b <= 0 {
		return 0, false
	}
	return a / b, true
}

// CellText formats a cell as "0.150 (1.00×)": the median in seconds and its
// ratio to the baseline, "(–)" when the baseline has none, or "n/a: reason".
// maxReason > 0 shortens the reason to that many characters.
func (r *Results) CellText(wi, ci, maxReason int) string {
	c := r.Cells[wi][ci]
	m, ok := c.Median()
	if !ok {
		reason := c.NA
		if reason == "" {
			reason = "no runs"
		}
		return "n/a: " + shorten(reason, maxReason)
	}
	ratio, ok := r.Ratio(r.Workloads[wi].Name, r.Configs[ci], Baseline)
	if !ok {
		return fmtSeconds(m) + " (–)"
	}
	return fmtSeconds(m) + " (" + fmtRatio(ratio) + ")"
}

// fmtSeconds prints milliseconds, and a tenth of them below 10 ms.
func fmtSeconds(s float64) string {
	if s < 0.01 {
		return fmt.Sprintf("%.4f", s)
	}
	return fmt.Sprintf("%.3f", s)
}

// fmtRatio prints at least two significant digits.
func fmtRatio(r float64) string {
	if r < 0.001 {
		return "<0.001×"
	}
	if r < 0.1 {
		return fmt.Sprintf("%.3f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

// Table returns the header and the rows of the medians table.
func (r *Results) Table(maxReason int) (header []string, rows [][]string) {
	header = append([]string{"workload"}, r.Configs...)
	for wi, w := range r.Workloads {
		row := []string{w.Title}
		for ci := range r.Configs {
			row = append(row, r.CellText(wi, ci, maxReason))
		}
		rows = append(rows, row)
	}
	return header, rows
}

// WriteText writes the table, the targets and the notes as plain text.
func (r *Results) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "Median of %d run(s) in seconds; in parentheses the ratio to %s in this run (lower is better).\n", r.Runs, Baseline)
	for _, k := range []string{"tree", "total run time"} {
		if v := r.fact(k); v != "" {
			fmt.Fprintf(ew, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(ew)
	header, rows := r.Table(40)
	widths := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(row []string) {
		for i, c := range row {
			if i > 0 {
				fmt.Fprint(ew, "  ")
			}
			fmt.Fprint(ew, c, strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)))
		}
		fmt.Fprintln(ew)
	}
	line(header)
	for _, row := range rows {
		line(row)
	}
	fmt.Fprintln(ew)
	for _, t := range r.Targets() {
		fmt.Fprintf(ew, "target %s %s: %s\n", t.ID, t.Statement, strings.ToUpper(string(t.Status)))
		for _, d := range t.Details {
			fmt.Fprintf(ew, "    %s\n", d)
		}
	}
	if reasons := r.naReasons(); len(reasons) > 0 {
		fmt.Fprintln(ew, "\nn/a in full:")
		for _, s := range reasons {
			fmt.Fprintf(ew, "  %s\n", s)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(ew, "note: %s\n", n)
	}
	return ew.err
}

// naReasons lists each distinct n/a reason once, with where it occurred.
func (r *Results) naReasons() []string {
	var out []string
	seen := map[string]bool{}
	for ci, cfg := range r.Configs {
		for wi, w := range r.Workloads {
			c := r.Cells[wi][ci]
			if _, ok := c.Median(); ok {
				continue
			}
			key := cfg + "\x00" + c.NA
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, fmt.Sprintf("%s (from %s on): %s", cfg, w.Name, c.NA))
		}
	}
	return out
}

// WriteMarkdown writes the report: the table, the chart, the targets, the
// method and the machine facts.
func (r *Results) WriteMarkdown(w io.Writer, svgName string) error {
	ew := &errWriter{w: w}
	fmt.Fprintln(ew, "# lamina filesystem benchmark")
	fmt.Fprintln(ew)
	fmt.Fprintf(ew, "Written by `make bench-fs` (`bin/benchfs`, from ./bench/cmd/benchfs). Median of %d run(s) in seconds; in parentheses the ratio to kernel overlayfs (`%s`) in the same run. Lower is better.\n\n", r.Runs, Baseline)
	header, rows := r.Table(0)
	writeMDRow(ew, header)
	sep := []string{"---"}
	for range r.Configs {
		sep = append(sep, "---:")
	}
	writeMDRow(ew, sep)
	for _, row := range rows {
		writeMDRow(ew, row)
	}
	if svgName != "" {
		fmt.Fprintf(ew, "\n![time relative to kernel overlayfs](%s)\n", svgName)
	}

	fmt.Fprintln(ew, "\n## Targets")
	fmt.Fprintln(ew)
	for _, t := range r.Targets() {
		fmt.Fprintf(ew, "- **(%s)** %s: **%s**\n", t.ID, t.Statement, t.Status)
		for _, d := range t.Details {
			fmt.Fprintf(ew, "  - %s\n", d)
		}
	}

	fmt.Fprintln(ew, "\n## Method")
	fmt.Fprintln(ew)
	for _, m := range methodText {
		fmt.Fprintf(ew, "- %s\n", m)
	}

	fmt.Fprintln(ew, "\n## Machine, tools and fixture")
	fmt.Fprintln(ew)
	writeMDRow(ew, []string{"", ""})
	writeMDRow(ew, []string{"---", "---"})
	for _, f := range r.Facts {
		writeMDRow(ew, []string{f.Key, f.Value})
	}

	fmt.Fprintln(ew, "\n## All runs (seconds)")
	fmt.Fprintln(ew)
	writeMDRow(ew, header)
	writeMDRow(ew, sep)
	for wi, wl := range r.Workloads {
		row := []string{wl.Name}
		for ci := range r.Configs {
			c := r.Cells[wi][ci]
			if len(c.Times) == 0 {
				row = append(row, "n/a")
				continue
			}
			var ts []string
			for _, t := range c.Times {
				ts = append(ts, fmtSeconds(t))
			}
			row = append(row, strings.Join(ts, ", "))
		}
		writeMDRow(ew, row)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(ew, "\n## Notes")
		fmt.Fprintln(ew)
		for _, n := range r.Notes {
			fmt.Fprintf(ew, "- %s\n", n)
		}
	}
	return ew.err
}

var methodText = []string{
	"Each cell: for every run, a fresh upper, work and mount directory; mount; `sync` and `echo 3 > /proc/sys/vm/drop_caches`; warm the host tools (find, tar, dd, chroot) and the tarball, which live outside the mount; time the workload; check its result (entry counts, bytes read, file sizes); unmount; move the directories aside, to be removed after the whole run (deleting thousands of files slows the next creates on an ext4 without a journal), except the large copy-up's, removed at once (one file, and a GiB per run). Runs go round the configurations in turn, so drift hits all alike.",
	"ext4 is the layers copied into one plain directory on the same disk (bind-mounted at the mount point); its copy-up rows are plain appends.",
	"kernel-overlay is `mount -t overlay` with the module defaults below. lamina-fuse and lamina-passthrough are `unionmount --driver fuse -o lowerdir=…,upperdir=…,workdir=…,passthrough=off|on`; both fsync copied-up data before publishing it, as kernel overlayfs does. lamina-fuse-nofsync is lamina-fuse with `fsync=0`, the durability fuse-overlayfs 1.10 gives (its copy-up never fsyncs). fuse-overlayfs gets the same -o; unionfs-fuse gets `-o cow,allow_other UPPER=RW:LOWER=RO:…`.",
	"stat: `find MNT/usr -printf '%s\\n'`, one lstat per entry. Tree read: `tar -C MNT -cf - usr` drained through a pipe (not to /dev/null, which GNU tar does not read for). Sequential read: `dd if=FILE of=/dev/null bs=1M`. Untar: `tar -C MNT -xf` of a prepared tarball. Copy-up: open O_APPEND, write one byte, close, per file. Program start: `chroot MNT` and the program, with PYTHONDONTWRITEBYTECODE=1.",
	"Timed regions do not include a sync: writes are measured to the page cache, as an application sees them.",
}

// writeMDRow writes a markdown table row, escaping pipes in cells.
func writeMDRow(w io.Writer, cells []string) {
	var b strings.Builder
	b.WriteString("|")
	for _, c := range cells {
		c = strings.ReplaceAll(c, "|", `\|`)
		c = strings.ReplaceAll(c, "\n", " ")
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
	io.WriteString(w, b.String())
}

// Save writes fs.md and fs.svg into dir.
func Save(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create results directory: %w", err)
	}
	if err := writeFileWith(filepath.Join(dir, "fs.svg"), func(w io.Writer) error { return r.WriteSVG(w) }); err != nil {
		return err
	}
	return writeFileWith(filepath.Join(dir, "fs.md"), func(w io.Writer) error { return r.WriteMarkdown(w, "fs.svg") })
}

func writeFileWith(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	werr := write(f)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, werr)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// shorten cuts s to at most n runes, ending in "…"; n <= 0 keeps s whole.
func shorten(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	rs := []rune(s)
	return string(rs[:n-1]) + "…"
}

// errWriter remembers the first write error so that report code can write
// without checking each call.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
