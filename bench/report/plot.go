package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// WritePlot draws the run as a self-contained SVG with three panels:
// throughput over time, latency (p50, p99, max) over time, and the latency
// distribution as a percentile spectrum. With asHTML it writes an HTML page
// holding the summary table and the SVG.
func WritePlot(w io.Writer, r Run, asHTML bool) error {
	doc := Build(r)
	var b strings.Builder
	if asHTML {
		var summary strings.Builder
		if err := WriteSummary(&summary, r); err != nil {
			return err
		}
		fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>portcullis bench %s</title>\n"+
			"<style>body{font-family:sans-serif;margin:2em;color:#222}pre{background:#f4f4f4;padding:1em;overflow-x:auto}</style>\n"+
			"</head><body>\n<h1>portcullis bench</h1>\n<p>started %s</p>\n<pre>%s</pre>\n",
			html.EscapeString(doc.Started.Format("2006-01-02 15:04:05")), html.EscapeString(doc.Started.Format("2006-01-02 15:04:05 MST")),
			html.EscapeString(summary.String()))
	}
	drawSVG(&b, doc)
	if asHTML {
		b.WriteString("</body></html>\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("report: plot: %w", err)
	}
	return nil
}

var palette = []string{"#1f77b4", "#d62728"}

const (
	svgWidth    = 960.0
	panelHeight = 200.0
	panelGap    = 80.0
	marginLeft  = 80.0
	marginRight = 30.0
	marginTop   = 50.0
)

func drawSVG(b *strings.Builder, doc Document) {
	height := marginTop + 3*(panelHeight+panelGap)
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	var legend []string
	for i, t := range doc.Targets {
		legend = append(legend, fmt.Sprintf(`<tspan fill="%s">■ %s</tspan>`, palette[i], html.EscapeString(t.Label+" "+t.URL)))
	}
	fmt.Fprintf(b, `<text x="%g" y="24" font-size="14">%s</text>`+"\n", marginLeft, strings.Join(legend, "   "))

	elapsed := math.Max(doc.ElapsedS, 1e-3)
	top := marginTop
	next := func() panel {
		p := panel{x: marginLeft, y: top, w: svgWidth - marginLeft - marginRight, h: panelHeight}
		top += panelHeight + panelGap
		return p
	}

	// Throughput over time.
	p := next()
	maxRPS := 0.0
	for _, t := range doc.Targets {
		for _, pt := range t.Timeline {
			maxRPS = math.Max(maxRPS, pt.RPS)
		}
	}
	p.xr, p.yr = axis{0, elapsed, false}, axis{0, niceCeil(math.Max(maxRPS, 1)), false}
	p.frame(b, "throughput (requests/s)", "time (s)", linearTicks(p.xr), linearTicks(p.yr), plainLabel, plainLabel)
	for i, t := range doc.Targets {
		p.polyline(b, timeSeries(t, func(pt PointDoc) float64 { return pt.RPS }), palette[i], "")
	}

	// Latency over time, log scale.
	p = next()
	lo, hi := math.Inf(1), 0.0
	for _, t := range doc.Targets {
		for _, pt := range t.Timeline {
			if pt.Requests-pt.Errors > 0 {
				lo, hi = math.Min(lo, pt.P50), math.Max(hi, pt.Max)
			}
		}
	}
	p.xr, p.yr = axis{0, elapsed, false}, logAxis(lo, hi)
	p.frame(b, "latency over time: p50 (solid), p99 (dashed), max (dotted)", "time (s)", linearTicks(p.xr), logTicks(p.yr), plainLabel, ms)
	for i, t := range doc.Targets {
		p.polyline(b, timeSeries(t, func(pt PointDoc) float64 { return pt.P50 }), palette[i], "")
		p.polyline(b, timeSeries(t, func(pt PointDoc) float64 { return pt.P99 }), palette[i], "6,3")
		p.polyline(b, timeSeries(t, func(pt PointDoc) float64 { return pt.Max }), palette[i], "1,3")
	}

	// Latency distribution: x is the number of nines, -log10(1-q).
	p = next()
	series := make([][][2]float64, len(doc.Targets))
	lo, hi = math.Inf(1), 0.0
	maxNines := 1.0
	for i, t := range doc.Targets {
		series[i] = spectrum(t.Histogram)
		for _, pt := range series[i] {
			lo, hi, maxNines = math.Min(lo, pt[1]), math.Max(hi, pt[1]), math.Max(maxNines, pt[0])
		}
	}
	p.xr, p.yr = axis{0, math.Ceil(maxNines), false}, logAxis(lo, hi)
	var xt []float64
	for n := 0.0; n <= p.xr.max; n++ {
		xt = append(xt, n)
	}
	p.frame(b, "latency distribution", "percentile", xt, logTicks(p.yr), ninesLabel, ms)
	for i := range series {
		p.polyline(b, series[i], palette[i], "")
	}
	b.WriteString("</svg>\n")
}

// timeSeries returns the points of an interval series, skipping intervals
// where the target was idle (the other target's turn in compare mode).
func timeSeries(t TargetDoc, value func(PointDoc) float64) [][2]float64 {
	var pts [][2]float64
	interval := 1.0
	if len(t.Timeline) > 1 {
		interval = t.Timeline[1].T - t.Timeline[0].T
	}
	for _, pt := range t.Timeline {
		if pt.Requests == 0 {
			continue
		}
		if v := value(pt); v > 0 {
			pts = append(pts, [2]float64{pt.T + interval/2, v})
		}
	}
	return pts
}

// spectrum turns histogram buckets into (nines, latency ms) points.
func spectrum(buckets []BucketDoc) [][2]float64 {
	var total, seen uint64
	for _, bk := range buckets {
		total += bk.Count
	}
	if total == 0 {
		return nil
	}
	// The last value is drawn at the resolution the sample supports.
	maxNines := math.Log10(float64(total))
	pts := [][2]float64{{0, buckets[0].LowUS / 1e3}}
	for _, bk := range buckets {
		seen += bk.Count
		nines := maxNines
		if seen < total {
			nines = math.Min(-math.Log10(1-float64(seen)/float64(total)), maxNines)
		}
		pts = append(pts, [2]float64{nines, bk.HighUS / 1e3})
	}
	return pts
}

type axis struct {
	min, max float64
	log      bool
}

func (a axis) frac(v float64) float64 {
	if a.log {
		return (math.Log10(v) - math.Log10(a.min)) / (math.Log10(a.max) - math.Log10(a.min))
	}
	return (v - a.min) / (a.max - a.min)
}

// logAxis spans whole decades around [lo, hi] (milliseconds).
func logAxis(lo, hi float64) axis {
	if math.IsInf(lo, 1) || hi <= 0 {
		lo, hi = 0.1, 1
	}
	lo = math.Pow(10, math.Floor(math.Log10(math.Max(lo, 1e-4))))
	hi = math.Pow(10, math.Ceil(math.Log10(math.Max(hi, lo*10))))
	if hi <= lo {
		hi = lo * 10
	}
	return axis{lo, hi, true}
}

func logTicks(a axis) []float64 {
	var ticks []float64
	decades := math.Log10(a.max / a.min)
	for d := a.min; d <= a.max*1.0001; d *= 10 {
		ticks = append(ticks, d)
		if decades <= 2 && d*2 < a.max {
			ticks = append(ticks, d*2, d*5)
		}
	}
	return ticks
}

func linearTicks(a axis) []float64 {
	step := niceCeil((a.max - a.min) / 6)
	var ticks []float64
	for v := a.min; v <= a.max+step/1e6; v += step {
		ticks = append(ticks, v)
	}
	return ticks
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*exp >= v*0.9999 {
			return m * exp
		}
	}
	return 10 * exp
}

func plainLabel(v float64) string {
	if v >= 1000 {
		return group(uint64(v))
	}
	return fmt.Sprintf("%g", v)
}

func ninesLabel(n float64) string {
	if n == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.*f%%", max(int(n)-2, 0), 100-100*math.Pow(10, -n))
}

// panel is one chart: its area on the page and its axes.
type panel struct {
	x, y, w, h float64
	xr, yr     axis
}

func (p panel) px(v float64) float64 { return p.x + p.xr.frac(v)*p.w }
func (p panel) py(v float64) float64 { return p.y + p.h - p.yr.frac(v)*p.h }

func (p panel) frame(b *strings.Builder, title, xTitle string, xTicks, yTicks []float64, xLabel, yLabel func(float64) string) {
	fmt.Fprintf(b, `<text x="%g" y="%g" font-size="13" font-weight="bold">%s</text>`+"\n", p.x, p.y-10, html.EscapeString(title))
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#999"/>`+"\n", p.x, p.y, p.w, p.h)
	for _, v := range yTicks {
		y := p.py(v)
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#eee"/>`, p.x, y, p.x+p.w, y)
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", p.x-6, y, yLabel(v))
	}
	for _, v := range xTicks {
		x := p.px(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#eee"/>`, x, p.y, x, p.y+p.h)
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n", x, p.y+p.h+16, xLabel(v))
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" fill="#555">%s</text>`+"\n", p.x+p.w/2, p.y+p.h+34, xTitle)
}

func (p panel) polyline(b *strings.Builder, pts [][2]float64, color, dash string) {
	if len(pts) == 0 {
		return
	}
	var coords []string
	for _, pt := range pts {
		if p.yr.log && pt[1] <= 0 {
			continue
		}
		coords = append(coords, fmt.Sprintf("%.1f,%.1f", p.px(pt[0]), p.py(pt[1])))
	}
	dashAttr := ""
	if dash != "" {
		dashAttr = fmt.Sprintf(` stroke-dasharray="%s"`, dash)
	}
	fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5"%s/>`+"\n", strings.Join(coords, " "), color, dashAttr)
}
