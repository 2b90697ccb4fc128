package report

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteSummary prints the run as a table with one column per target, and a
// B/A column when two targets were compared.
func WriteSummary(w io.Writer, r Run) error {
	doc := Build(r)
	var b strings.Builder
	b.WriteString(describe(doc.Settings, len(doc.Targets)))
	b.WriteString("\n\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', 0)
	compare := len(doc.Targets) == 2
	row := func(name string, value func(TargetDoc) string, ratio float64) {
		cells := []string{name}
		for _, t := range doc.Targets {
			cells = append(cells, value(t))
		}
		if compare && ratio != 0 {
			cells = append(cells, fmt.Sprintf("%.2fx", ratio))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	var ratio RatioDoc
	if doc.Ratio != nil {
		ratio = *doc.Ratio
		fmt.Fprintf(tw, "\t%s\t%s\tB/A\t\n", doc.Targets[0].Label, doc.Targets[1].Label)
	}
	row("url", func(t TargetDoc) string { return t.URL }, 0)
	row("sessions", func(t TargetDoc) string { return strconv.Itoa(t.SessionsOpened) }, 0)
	row("requests", func(t TargetDoc) string { return group(t.Requests) }, 0)
	row("throughput", func(t TargetDoc) string { return group(uint64(math.Round(t.ThroughputRPS))) + "/s" }, ratio.Throughput)
	row("errors", func(t TargetDoc) string { return group(t.Errors) }, 0)
	for _, kind := range errorKinds(doc.Targets) {
		row("  "+kind, func(t TargetDoc) string { return group(t.ErrorKinds[kind]) }, 0)
	}
	latency := "latency"
	if doc.Settings.Model == "open" {
		latency = "latency*"
	}
	lat := []struct {
		name  string
		get   func(Percentiles) float64
		ratio float64
	}{
		{"p50", func(p Percentiles) float64 { return p.P50 }, ratio.P50},
		{"p90", func(p Percentiles) float64 { return p.P90 }, ratio.P90},
		{"p99", func(p Percentiles) float64 { return p.P99 }, ratio.P99},
		{"p99.9", func(p Percentiles) float64 { return p.P999 }, ratio.P999},
		{"max", func(p Percentiles) float64 { return p.Max }, ratio.Max},
		{"mean", func(p Percentiles) float64 { return p.Mean }, ratio.Mean},
	}
	for _, l := range lat {
		row(latency+" "+l.name, func(t TargetDoc) string { return ms(l.get(t.LatencyMS)) }, l.ratio)
	}
	if doc.Settings.Model == "open" {
		for _, l := range lat[:3] {
			row("service "+l.name, func(t TargetDoc) string { return ms(l.get(*t.ServiceMS)) }, 0)
		}
	}
	if len(doc.Targets[0].Methods) > 1 {
		for i, m := range doc.Targets[0].Methods {
			row(m.Method, func(t TargetDoc) string {
				tm := t.Methods[i]
				return fmt.Sprintf("%s  p50 %s  p99 %s", group(tm.Requests), ms(tm.LatencyMS.P50), ms(tm.LatencyMS.P99))
			}, 0)
		}
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("report: summary: %w", err)
	}

	b.WriteString("\n")
	for _, t := range doc.Targets {
		writeErrorDetail(&b, t)
	}
	c := doc.Client
	fmt.Fprintf(&b, "load generator CPU: %.1fµs per request (user %.2fs + system %.2fs, GOMAXPROCS %d)\n",
		c.CPUPerRequestUS, c.CPUUserS, c.CPUSystemS, c.GOMAXPROCS)
	if doc.Settings.Model == "open" {
		b.WriteString("* open loop: latency counts from the intended send time; service time from the actual send\n")
	}
	if c.Unsent > 0 {
		fmt.Fprintf(&b, "WARNING: %s requests fell due but were never sent: all %d senders were busy, the target fell behind the rate\n",
			group(uint64(c.Unsent)), doc.Settings.Concurrency)
	}
	if c.Abandoned > 0 {
		fmt.Fprintf(&b, "WARNING: %d requests were still in flight at the hard stop and are not counted\n", c.Abandoned)
	}
	if c.Interrupted {
		b.WriteString("interrupted: results cover the run until the signal\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func describe(s Settings, targets int) string {
	var b strings.Builder
	if s.Model == "open" {
		fmt.Fprintf(&b, "open loop at %s req/s, up to %d in flight", strconv.FormatFloat(s.Rate, 'f', -1, 64), s.Concurrency)
	} else {
		fmt.Fprintf(&b, "closed loop, %d workers", s.Concurrency)
	}
	switch {
	case s.DurationS > 0 && s.Requests > 0:
		fmt.Fprintf(&b, ", %s requests or %gs", group(uint64(s.Requests)), s.DurationS)
	case s.DurationS > 0:
		fmt.Fprintf(&b, ", %gs", s.DurationS)
	default:
		fmt.Fprintf(&b, ", %s requests", group(uint64(s.Requests)))
	}
	if s.WarmupS > 0 {
		fmt.Fprintf(&b, " after %gs warm-up", s.WarmupS)
	}
	fmt.Fprintf(&b, "; %s, protocol %s, %d sessions per target; mix %s", s.Transport, s.ProtocolVersion, s.Sessions, s.Mix)
	if targets == 2 {
		fmt.Fprintf(&b, "\ncompare: the targets take turns of %gs (A B A B ...)", s.SliceS)
	}
	return b.String()
}

func writeErrorDetail(b *strings.Builder, t TargetDoc) {
	for _, kind := range slices.Sorted(maps.Keys(t.ErrorSamples)) {
		fmt.Fprintf(b, "%s %s: %s\n", t.Label, kind, t.ErrorSamples[kind])
	}
	for _, c := range []struct {
		name  string
		codes map[string]uint64
	}{{"http status", t.HTTPStatus}, {"json-rpc codes", t.RPCCodes}} {
		name, codes := c.name, c.codes
		if len(codes) == 0 {
			continue
		}
		var parts []string
		for _, code := range slices.Sorted(maps.Keys(codes)) {
			parts = append(parts, fmt.Sprintf("%s x%s", code, group(codes[code])))
		}
		fmt.Fprintf(b, "%s %s: %s\n", t.Label, name, strings.Join(parts, ", "))
	}
	for _, kind := range slices.Sorted(maps.Keys(t.SetupErrors)) {
		fmt.Fprintf(b, "%s: %d sessions failed to open (%s); workers retried during the run\n", t.Label, t.SetupErrors[kind], kind)
	}
}

// errorKinds lists the kinds that occurred at any target, in a fixed order.
func errorKinds(targets []TargetDoc) []string {
	seen := map[string]bool{}
	for _, t := range targets {
		for k := range t.ErrorKinds {
			seen[k] = true
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// ms formats milliseconds with three significant digits and a fitting unit.
func ms(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 1:
		return sig3(v*1000) + "µs"
	case v < 1000:
		return sig3(v) + "ms"
	default:
		return sig3(v/1000) + "s"
	}
}

func sig3(v float64) string {
	decimals := 0
	switch {
	case v < 10:
		decimals = 2
	case v < 100:
		decimals = 1
	}
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// group writes n with thousands separators.
func group(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
