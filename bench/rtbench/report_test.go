package rtbench

import (
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		out := make([]time.Duration, len(xs))
		for i, x := range xs {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	cases := []struct {
		name string
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{name: "empty", in: nil, q: 0.5, want: 0},
		{name: "one", in: ms(7), q: 0.9, want: 7 * time.Millisecond},
		{name: "median odd unsorted", in: ms(5, 1, 3), q: 0.5, want: 3 * time.Millisecond},
		{name: "median even is lower middle", in: ms(4, 1, 3, 2), q: 0.5, want: 2 * time.Millisecond},
		{name: "p90 of ten", in: ms(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), q: 0.9, want: 9 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := quantile(c.in, c.q); got != c.want {
				t.Errorf("quantile(%v, %v) = %v, want %v", c.in, c.q, got, c.want)
			}
		})
	}
}

func TestVerdict(t *testing.T) {
	s := func(name string, total time.Duration) *Series {
		return &Series{Name: name, Samples: []Sample{{Create: total}}}
	}
	cases := []struct {
		name   string
		series []*Series
		want   []string
	}{
		{name: "both met", series: []*Series{s("lamina", 30*time.Millisecond), s("runc", 60*time.Millisecond), s("crun", 25*time.Millisecond)},
			want: []string{"faster than runc: met (lamina/runc = 0.50)", "within 1.5x of crun: met (lamina/crun = 1.20)"}},
		{name: "crun missed", series: []*Series{s("lamina", 40*time.Millisecond), s("runc", 80*time.Millisecond), s("crun", 20*time.Millisecond)},
			want: []string{"faster than runc: met", "within 1.5x of crun: NOT met (lamina/crun = 2.00)"}},
		{name: "crun absent", series: []*Series{s("lamina", 40*time.Millisecond), s("runc", 30*time.Millisecond)},
			want: []string{"faster than runc: NOT met", "within 1.5x of crun: not measured"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := (&Result{Series: c.series}).Verdict()
			for i, w := range c.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("verdict[%d] = %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}
}
