package bench

import (
	"bytes"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"one", []float64{2.5}, 2.5},
		{"odd unsorted", []float64{3, 1, 2}, 2},
		{"even is mean of middle two", []float64{4, 1, 3, 2}, 2.5},
		{"outlier ignored", []float64{0.1, 0.1, 9}, 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.in...)
			if got := median(tc.in); got != tc.want {
				t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
			}
			for i := range in {
				if in[i] != tc.in[i] {
					t.Fatalf("median modified its input: %v", tc.in)
				}
			}
		})
	}
}

// sampleResults builds results with a baseline, a faster and a slower
// configuration, and one that never mounted.
func sampleResults() *Results {
	return &Results{
		Configs: []string{NameExt4, NameKernelOverlay, NameLaminaFUSE, NameLaminaPassthrough, NameFuseOverlayfs},
		Workloads: []WorkloadInfo{
			{Name: "stat", Title: "stat every entry", Short: "stat /usr"},
			{Name: "untar", Title: "untar | files", Short: "untar 5,000 × 4 KiB"},
		},
		Cells: [][]Cell{
			{
				{Times: []float64{0.13, 0.12, 0.14}},
				{Times: []float64{0.15, 0.16, 0.14}},
				{NA: "mount lamina-fuse: run unionmount: exit status 1: no such driver"},
				{Times: []float64{0.18, 0.18, 0.19}},
				{Times: []float64{0.45, 0.5, 0.4}},
			},
			{
				{Times: []float64{0.2}},
				{Times: []float64{0.28}},
				{NA: "mount lamina-fuse: run unionmount: exit status 1: no such driver"},
				{Times: []float64{1.4}},
				{Times: []float64{2.02}},
			},
		},
		Runs:  3,
		Facts: []Fact{{"date", "2025-01-01 00:00 UTC"}, {"kernel", "6.18 x86_64"}},
	}
}

func TestCellText(t *testing.T) {
	r := sampleResults()
	for _, tc := range []struct {
		name      string
		wi, ci    int
		maxReason int
		want      string
	}{
		{"baseline is 1.00", 0, 1, 0, "0.150 (1.00×)"},
		{"faster", 0, 0, 0, "0.130 (0.87×)"},
		{"slower", 0, 4, 0, "0.450 (3.00×)"},
		{"n/a keeps reason", 0, 2, 0, "n/a: mount lamina-fuse: run unionmount: exit status 1: no such driver"},
		{"n/a shortened", 0, 2, 12, "n/a: mount lamin…"},
		{"single run", 1, 3, 0, "1.400 (5.00×)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.CellText(tc.wi, tc.ci, tc.maxReason); got != tc.want {
				t.Errorf("CellText(%d, %d) = %q, want %q", tc.wi, tc.ci, got, tc.want)
			}
		})
	}
}

func TestCellTextWithoutBaseline(t *testing.T) {
	r := sampleResults()
	r.Cells[0][1] = Cell{NA: "mount overlay: no such device"}
	if got, want := r.CellText(0, 0, 0), "0.130 (–)"; got != want {
		t.Errorf("CellText = %q, want %q", got, want)
	}
}

func TestTable(t *testing.T) {
	header, rows := sampleResults().Table(0)
	if want := []string{"workload", NameExt4, NameKernelOverlay, NameLaminaFUSE, NameLaminaPassthrough, NameFuseOverlayfs}; strings.Join(header, ",") != strings.Join(want, ",") {
		t.Errorf("header = %v, want %v", header, want)
	}
	if len(rows) != 2 || rows[1][0] != "untar | files" || rows[1][4] != "1.400 (5.00×)" {
		t.Errorf("rows = %q", rows)
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResults().WriteMarkdown(&b, "fs.svg"); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| workload | ext4 | kernel-overlay | lamina-fuse | lamina-passthrough | fuse-overlayfs |\n",
		"| --- | ---: | ---: | ---: | ---: | ---: |\n",
		"| stat every entry | 0.130 (0.87×) | 0.150 (1.00×) | n/a: mount lamina-fuse: run unionmount: exit status 1: no such driver | 0.180 (1.20×) | 0.450 (3.00×) |\n",
		`| untar \| files |`,
		"![time relative to kernel overlayfs](fs.svg)",
		"| kernel | 6.18 x86_64 |",
		"| stat | 0.130, 0.120, 0.140 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	if err := sampleResults().WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	// Header and rows line up: every row starts its second column at the
	// same rune offset.
	var tableLines []string
	for _, l := range lines {
		if strings.HasPrefix(l, "workload") || strings.HasPrefix(l, "stat every") || strings.HasPrefix(l, "untar |") {
			tableLines = append(tableLines, l)
		}
	}
	if len(tableLines) != 3 {
		t.Fatalf("table lines = %q", tableLines)
	}
	col := strings.Index(tableLines[0], NameExt4)
	for _, l := range tableLines[1:] {
		if r := []rune(l); len(r) <= col || r[col-1] != ' ' || r[col] == ' ' {
			t.Errorf("column not aligned at %d in %q", col, l)
		}
	}
	for _, want := range []string{"target a", "target b", "target c", "n/a in full:", "no such driver"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

func TestTargets(t *testing.T) {
	got := map[string]TargetStatus{}
	for _, tg := range sampleResults().Targets() {
		got[tg.ID] = tg.Status
	}
	// (a) stat passthrough 1.20× ≤ 1.3 and no other (a) workload ran.
	// (b) lamina-fuse has no numbers, passthrough beats fuse-overlayfs on
	// both: not evaluated. (c) passthrough untar 1.4/2.02 = 0.69 > 0.5.
	want := map[string]TargetStatus{"a": Holds, "b": NotEvaluated, "c": Fails}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("target %s = %q, want %q", id, got[id], w)
		}
	}
}

func TestTargetFailsDespiteNA(t *testing.T) {
	r := sampleResults()
	r.Cells[0][3] = Cell{Times: []float64{0.5}} // passthrough stat slower than fuse-overlayfs
	for _, tg := range r.Targets() {
		if tg.ID == "b" && tg.Status != Fails {
			t.Errorf("target b = %q, want %q", tg.Status, Fails)
		}
		if tg.ID == "a" && tg.Status != Fails {
			t.Errorf("target a = %q, want %q (0.5/0.15 > 1.3)", tg.Status, Fails)
		}
	}
}

func TestThousandsAndBytes(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 7411: "7,411", 1234567: "1,234,567", -5000: "-5,000"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{1 << 30: "1 GiB", 4096: "4 KiB", 166 << 20: "166 MiB", 12: "12 B"} {
		if got := humanBytes(in); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatNumbers(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{fmtSeconds(1.23456), "1.235"},
		{fmtSeconds(0.0093), "0.0093"},
		{fmtRatio(1), "1.00×"},
		{fmtRatio(0.023), "0.023×"},
		{fmtRatio(0.0004), "<0.001×"},
		{ratioLabel(14.02), "14×"},
		{ratioLabel(0.04), "0.040×"},
		{tickLabel(-3), "1/8×"},
		{tickLabel(4), "16×"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	if got := lastLines("\n", 2); got != "" {
		t.Errorf("lastLines(blank) = %q", got)
	}
	if got, want := lastLines("a\n\nb\nc\n", 2), ": b; c"; got != want {
		t.Errorf("lastLines = %q, want %q", got, want)
	}
}
