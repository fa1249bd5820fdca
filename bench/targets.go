package bench

import "fmt"

// TargetStatus is the verdict on one target.
type TargetStatus string

const (
	// Holds: every comparison the target makes was measured and passed.
	Holds TargetStatus = "holds"
	// Fails: at least one measured comparison failed.
	Fails TargetStatus = "does not hold"
	// NotEvaluated: nothing failed, but some comparison had no numbers.
	NotEvaluated TargetStatus = "not evaluated"
)

// Target is one of lamina's performance goals, checked against a run.
type Target struct {
	ID        string
	Statement string
	Status    TargetStatus
	// Details has one line per comparison.
	Details []string
}

const (
	passthroughLimit = 1.3 // (a): at most this many times kernel overlayfs
	untarLimit       = 0.5 // (c): at most this many times fuse-overlayfs
)

// Targets checks lamina's goals against the results:
//
//	(a) with passthrough, stat, tree read, sequential read and program start
//	    take at most 1.3× kernel overlayfs;
//	(b) both lamina configurations beat fuse-overlayfs on every workload;
//	(c) lamina untars in at most 0.5× the time of fuse-overlayfs.
//
// Comparisons whose workload was not run are left out.
func (r *Results) Targets() []Target {
	laminas := []string{NameLaminaFUSE, NameLaminaPassthrough}

	a := Target{ID: "a", Statement: fmt.Sprintf("lamina-passthrough ≤ %.1f× kernel overlay on stat, tree read, seq read, program start", passthroughLimit)}
	for _, w := range []string{"stat", "tree-read", "seq-read", "program-start"} {
		if r.workloadIndex(w) >= 0 {
			a.compare(r, w, NameLaminaPassthrough, Baseline, passthroughLimit, false)
		}
	}

	b := Target{ID: "b", Statement: "lamina (both configurations) faster than fuse-overlayfs on every workload"}
	for _, l := range laminas {
		for _, w := range r.Workloads {
			b.compare(r, w.Name, l, NameFuseOverlayfs, 1, true)
		}
	}

	c := Target{ID: "c", Statement: fmt.Sprintf("lamina untar ≤ %.1f× fuse-overlayfs", untarLimit)}
	if r.workloadIndex("untar") >= 0 {
		for _, l := range laminas {
			c.compare(r, "untar", l, NameFuseOverlayfs, untarLimit, false)
		}
	}

	out := []Target{a, b, c}
	for i := range out {
		if out[i].Status == "" {
			out[i].Status = NotEvaluated
			out[i].Details = append(out[i].Details, "no workload of this target was run")
		}
	}
	return out
}

// compare checks ratio(config/other) ≤ limit (< limit when strict) on one
// workload and folds the outcome into t.Status.
func (t *Target) compare(r *Results, workload, config, other string, limit float64, strict bool) {
	op := "≤"
	if strict {
		op = "<"
	}
	ratio, ok := r.Ratio(workload, config, other)
	if !ok {
		t.Details = append(t.Details, fmt.Sprintf("n/a   %s %s: no median for %s or %s", config, workload, config, other))
		if t.Status != Fails {
			t.Status = NotEvaluated
		}
		return
	}
	pass := ratio <= limit
	if strict {
		pass = ratio < limit
	}
	verdict := "ok  "
	if !pass {
		verdict = "FAIL"
		t.Status = Fails
	} else if t.Status == "" {
		t.Status = Holds
	}
	t.Details = append(t.Details, fmt.Sprintf("%s  %s %s: %.2f× %s (want %s %.2f×)", verdict, config, workload, ratio, other, op, limit))
}
