package bench

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// palette colours the tools other than the baseline, in order.
var palette = []string{"#888888", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"}

// SVG draws the result: for every workload, one bar per tool giving its
// median ratio to no tool (1.0: no cost), the spread over rounds as a
// whisker, and the added time per call above it.
func (r *Result) SVG() string {
	base := r.baseline()
	var tools []string
	for _, t := range r.Tools {
		if t.Name != base {
			tools = append(tools, t.Name)
		}
	}
	const (
		left, right, top, bottom = 60.0, 20.0, 50.0, 110.0
		barW, gap                = 22.0, 26.0
		height                   = 300.0
	)
	groupW := float64(len(tools))*barW + gap
	width := left + right + groupW*float64(len(r.Workloads))
	maxRatio := 1.0
	for _, s := range r.Summary {
		if s.Tool != base {
			maxRatio = math.Max(maxRatio, math.Max(s.Ratio, s.RatioMax))
		}
	}
	top10 := math.Ceil(maxRatio*4) / 4
	y := func(ratio float64) float64 { return top + height - (ratio-1)/(top10-1+1e-9)*height }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, top+height+bottom)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14">Time per call under each tool, as a ratio to no tool (median of %d rounds; whiskers: min-max)</text>`+"\n", left, r.Rounds)
	fmt.Fprintf(&b, `<text x="%.0f" y="36" fill="#555">%s, %d CPUs, kernel %s</text>`+"\n", left, html.EscapeString(r.Machine.CPU), r.Machine.CPUs, html.EscapeString(r.Machine.Kernel))
	// Grid lines every 0.25.
	for v := 1.0; v <= top10+1e-9; v += 0.25 {
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, width-right, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%.2f</text>`+"\n", left-6, y(v)+4, v)
	}
	for i, w := range r.Workloads {
		x0 := left + float64(i)*groupW + gap/2
		for j, tool := range tools {
			s, ok := r.Lookup(tool, w.Name)
			if !ok {
				continue
			}
			x := x0 + float64(j)*barW
			ratio := math.Max(s.Ratio, 1)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s, %s: %.0f ns/call, %s</title></rect>`+"\n",
				x+1, y(ratio), barW-2, y(1)-y(ratio), palette[j%len(palette)], html.EscapeString(tool), w.Name, s.NsPerCall, added(s.AddedNs))
			if s.RatioMax > 0 {
				cx := x + barW/2
				fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", cx, cx, y(math.Max(s.RatioMin, 1)), y(s.RatioMax))
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" text-anchor="start" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
				x+barW/2+3, y(math.Max(ratio, s.RatioMax))-4, x+barW/2+3, y(math.Max(ratio, s.RatioMax))-4, added(s.AddedNs))
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x0+float64(len(tools))*barW/2, top+height+16, w.Name)
	}
	// Legend.
	for j, tool := range tools {
		lx := left + float64(j%3)*((width-left-right)/3)
		ly := top + height + 40 + float64(j/3)*18
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			lx, ly-10, palette[j%len(palette)], lx+16, ly, html.EscapeString(tool))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// added renders an added time per call: +123 ns, +1.4 µs, +2.1 ms.
func added(ns float64) string {
	sign := "+"
	if ns < 0 {
		sign, ns = "-", -ns
	}
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%s%.1f ms", sign, ns/1e6)
	case ns >= 1e4:
		return fmt.Sprintf("%s%.0f µs", sign, ns/1e3)
	case ns >= 1e3:
		return fmt.Sprintf("%s%.1f µs", sign, ns/1e3)
	}
	return fmt.Sprintf("%s%.0f ns", sign, ns)
}
