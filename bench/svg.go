package bench

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// Chart geometry, in SVG user units (pixels).
const (
	svgBarW      = 16
	svgBarGap    = 3
	svgGroupPad  = 40
	svgLeft      = 84
	svgRight     = 24
	svgTop       = 110
	svgPlotH     = 400
	svgBottom    = 70
	svgMaxLog2   = 7 // ratios beyond 128× or below 1/128 are clipped
	svgLegendBox = 12
)

var svgColors = map[string]string{
	NameExt4:              "#8c8c8c",
	NameKernelOverlay:     "#1f77b4",
	NameLaminaFUSE:        "#ff7f0e",
	NameLaminaPassthrough: "#d62728",
	NameLaminaNoSync:      "#ffbb78",
	NameFuseOverlayfs:     "#2ca02c",
	NameUnionfsFuse:       "#9467bd",
}

var svgPalette = []string{"#17becf", "#bcbd22", "#e377c2", "#8c564b"}

// WriteSVG draws a grouped bar chart of every configuration's time relative
// to kernel overlayfs: one group per workload, one bar per configuration,
// on a log scale where bars grow up (slower) or down (faster) from 1×.
func (r *Results) WriteSVG(w io.Writer) error {
	nc, nw := len(r.Configs), len(r.Workloads)
	groupW := nc*(svgBarW+svgBarGap) + svgGroupPad
	plotW := max(nw*groupW, 400)
	width := svgLeft + plotW + svgRight
	height := svgTop + svgPlotH + svgBottom

	// The scale spans every ratio and 1×, with one power of two of room at
	// each end for the value labels.
	lo, hi := 0.0, 0.0
	for wi := range r.Workloads {
		for ci := range r.Configs {
			if v, ok := r.Ratio(r.Workloads[wi].Name, r.Configs[ci], Baseline); ok && v > 0 {
				l := math.Log2(v)
				lo, hi = math.Min(lo, l), math.Max(hi, l)
			}
		}
	}
	lo = math.Max(math.Floor(lo)-1, -svgMaxLog2)
	hi = math.Min(math.Ceil(hi)+1, svgMaxLog2)
	y := func(v float64) float64 {
		l := math.Min(math.Max(math.Log2(v), lo), hi)
		return svgTop + (hi-l)/(hi-lo)*svgPlotH
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="26" font-size="17" font-weight="bold">%s</text>`+"\n", svgLeft, esc("lamina filesystem benchmark: time relative to kernel overlayfs"))
	sub := fmt.Sprintf("median of %d run(s); log scale; below 1× is faster than kernel overlayfs", r.Runs)
	if d, k := r.fact("date"), r.fact("kernel"); d != "" {
		sub += "; " + d + ", kernel " + k
	}
	fmt.Fprintf(&b, `<text x="%d" y="46" font-size="12" fill="#444444">%s</text>`+"\n", svgLeft, esc(sub))

	// Legend, wrapped to the chart's width.
	lx, ly := svgLeft, 70
	for ci, cfg := range r.Configs {
		itemW := svgLegendBox + 8 + 8*len(cfg) + 22
		if lx+itemW > width-svgRight && lx > svgLeft {
			lx, ly = svgLeft, ly+20
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", lx, ly-svgLegendBox+2, svgLegendBox, svgLegendBox, svgColor(cfg, ci))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13">%s</text>`+"\n", lx+svgLegendBox+6, ly, esc(cfg))
		lx += itemW
	}

	// Grid and axis.
	for k := int(lo); k <= int(hi); k++ {
		v := math.Exp2(float64(k))
		yy := y(v)
		stroke, sw := "#dddddd", 1.0
		if k == 0 {
			stroke, sw = "#333333", 1.5
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="%.1f"/>`+"\n", svgLeft, yy, svgLeft+plotW, yy, stroke, sw)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="12" text-anchor="end">%s</text>`+"\n", svgLeft-6, yy+4, esc(tickLabel(k)))
	}
	fmt.Fprintf(&b, `<text transform="translate(20 %d) rotate(-90)" font-size="13" text-anchor="middle">%s</text>`+"\n", svgTop+svgPlotH/2, esc("time ÷ kernel overlayfs time"))

	// Bars.
	one := y(1)
	for wi, wl := range r.Workloads {
		gx := svgLeft + wi*groupW + svgGroupPad/2
		for ci, cfg := range r.Configs {
			x := float64(gx + ci*(svgBarW+svgBarGap))
			cx := x + svgBarW/2
			v, ok := r.Ratio(wl.Name, cfg, Baseline)
			if !ok {
				fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(-90)" font-size="10" fill="#999999" text-anchor="end">n/a</text>`+"\n", cx+3.5, one+4)
				continue
			}
			top, bot := y(v), one
			if v < 1 {
				top, bot = one, y(v)
			}
			h := math.Max(bot-top, 1.5)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
				x, top, svgBarW, h, svgColor(cfg, ci), esc(fmt.Sprintf("%s, %s: %.2f×", wl.Short, cfg, v)))
			switch l := math.Log2(v); {
			case l > hi: // clipped at the top: label inside the bar
				fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(-90)" font-size="10" fill="#ffffff" text-anchor="end">%s</text>`+"\n", cx+3.5, top+3, esc(ratioLabel(v)))
			case l < lo: // clipped at the bottom: label inside the bar
				fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(-90)" font-size="10" fill="#ffffff">%s</text>`+"\n", cx+3.5, top+h-3, esc(ratioLabel(v)))
			case v >= 1:
				fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(-90)" font-size="10">%s</text>`+"\n", cx+3.5, top-3, esc(ratioLabel(v)))
			default:
				fmt.Fprintf(&b, `<text transform="translate(%.1f %.1f) rotate(-90)" font-size="10" text-anchor="end">%s</text>`+"\n", cx+3.5, top+h+3, esc(ratioLabel(v)))
			}
		}
		// Group label, on two lines when long.
		lx := float64(svgLeft+wi*groupW) + float64(groupW)/2
		l1, l2 := splitLabel(wl.Short, 16)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%s</text>`+"\n", lx, svgTop+svgPlotH+22, esc(l1))
		if l2 != "" {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="13" text-anchor="middle">%s</text>`+"\n", lx, svgTop+svgPlotH+39, esc(l2))
		}
		if wi > 0 {
			sx := svgLeft + wi*groupW
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#eeeeee"/>`+"\n", sx, svgTop, sx, svgTop+svgPlotH)
		}
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999999"/>`+"\n", svgLeft, svgTop, plotW, svgPlotH)
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

func (r *Results) fact(key string) string {
	for _, f := range r.Facts {
		if f.Key == key {
			return f.Value
		}
	}
	return ""
}

func svgColor(cfg string, i int) string {
	if c, ok := svgColors[cfg]; ok {
		return c
	}
	return svgPalette[i%len(svgPalette)]
}

// tickLabel labels 2^k: "1×", "4×", "1/8×".
func tickLabel(k int) string {
	if k >= 0 {
		return fmt.Sprintf("%d×", 1<<k)
	}
	return fmt.Sprintf("1/%d×", 1<<-k)
}

// ratioLabel prints a ratio with two significant digits or more.
func ratioLabel(v float64) string {
	switch {
	case v < 0.001:
		return "<0.001×"
	case v >= 10:
		return fmt.Sprintf("%.0f×", v)
	case v >= 0.1:
		return fmt.Sprintf("%.2f×", v)
	default:
		return fmt.Sprintf("%.3f×", v)
	}
}

// splitLabel breaks s at the space nearest its middle when it is longer
// than n runes.
func splitLabel(s string, n int) (string, string) {
	if len([]rune(s)) <= n {
		return s, ""
	}
	best := -1
	for i, c := range s {
		if c == ' ' && (best < 0 || abs(i-len(s)/2) < abs(best-len(s)/2)) {
			best = i
		}
	}
	if best < 0 {
		return s, ""
	}
	return s[:best], strings.TrimSpace(s[best:])
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
