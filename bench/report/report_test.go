package report

import (
	"encoding/xml"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/load"
	"github.com/portcullis-mcp/portcullis/bench/mcpclient"
)

// fakeTarget has n successful requests of latency base..base+n µs spread
// over two timeline points, and one timeout.
func fakeTarget(label string, n int, base time.Duration) *load.TargetResult {
	t := &load.TargetResult{Label: label, URL: "http://127.0.0.1:1/mcp", Active: 2 * time.Second,
		HTTPStatus: map[int]uint64{503: 2}, RPCCodes: map[int]uint64{}}
	t.Methods = []load.MethodResult{{Method: "tools/call"}, {Method: "tools/list"}}
	t.Timeline = []load.Point{{Start: 0}, {Start: time.Second}}
	for i := range n {
		d := int64(base) + int64(i)*int64(time.Microsecond)
		t.Latency.Record(d)
		t.Methods[i%2].Latency.Record(d)
		t.Methods[i%2].Count++
		t.Timeline[i%2].Latency.Record(d)
		t.Timeline[i%2].Requests++
	}
	t.Requests, t.OK = uint64(n)+3, uint64(n)
	t.Errors[mcpclient.Timeout] = 1
	t.Errors[mcpclient.HTTPStatus] = 2
	t.Samples[mcpclient.Timeout] = "no answer before the deadline"
	t.SessionsOpened = 4
	return t
}

func fakeRun(model string) Run {
	res := &load.Result{
		Targets:   []*load.TargetResult{fakeTarget("<direct>", 1000, time.Millisecond), fakeTarget("gateway", 1000, 2*time.Millisecond)},
		Elapsed:   4 * time.Second,
		CPUUser:   time.Second,
		CPUSystem: time.Second,
		Unsent:    7,
	}
	return Run{Started: time.Unix(0, 0), Result: res, Settings: Settings{
		Model: model, Concurrency: 8, Rate: 100, DurationS: 4, WarmupS: 1, SliceS: 1, TimeoutS: 10, Sessions: 4,
		Transport: "streamable", ProtocolVersion: "2025-11-25", Mix: "tools/call=1,tools/list=1",
	}}
}

func TestWriteSummary(t *testing.T) {
	var b strings.Builder
	if err := WriteSummary(&b, fakeRun("open")); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"open loop at 100 req/s, up to 8 in flight, 4s after 1s warm-up",
		"compare: the targets take turns of 1s",
		"B/A",
		"latency* max",
		"service p99",
		"tools/list",
		"<direct> timeout: no answer before the deadline",
		"<direct> http status: 503 x2",
		"load generator CPU: 997.0µs per request",
		"WARNING: 7 requests fell due but were never sent",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{`(?m)^requests\s+1,003\s+1,003\s*$`, `(?m)^  timeout\s+1\s+1\s*$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("summary lacks a row matching %s:\n%s", want, out)
		}
	}
	// B's latencies are A's plus 1 ms: at p50 about 2.5 ms against 1.5 ms.
	if !strings.Contains(out, "1.67x") {
		t.Errorf("summary lacks the p50 ratio 1.67x:\n%s", out)
	}
}

func TestBuild_Ratio(t *testing.T) {
	doc := Build(fakeRun("closed"))
	if doc.Ratio == nil || doc.Ratio.Throughput != 1 {
		t.Fatalf("ratio %+v, want equal throughput", doc.Ratio)
	}
	if r := doc.Ratio.P50; r < 1.65 || r > 1.68 {
		t.Errorf("p50 ratio %v, want about 2.5/1.5", r)
	}
	if doc.Targets[0].ServiceMS != nil {
		t.Error("closed loop reports service time")
	}
	if got := doc.Targets[0].Timeline[1].RPS; got != 500 {
		t.Errorf("timeline rate %v, want 500/s", got)
	}
}

func TestWritePlot_WellFormed(t *testing.T) {
	for _, asHTML := range []bool{false, true} {
		var b strings.Builder
		if err := WritePlot(&b, fakeRun("closed"), asHTML); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		if asHTML {
			if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.Contains(out, "&lt;direct&gt;") {
				t.Errorf("html page: %.300s", out)
			}
			out = out[strings.Index(out, "<svg") : strings.Index(out, "</svg>")+len("</svg>")]
		}
		dec := xml.NewDecoder(strings.NewReader(out))
		for {
			_, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("svg is not well-formed xml: %v", err)
			}
		}
		// Two targets: one throughput line, three latency lines and one distribution each.
		if n := strings.Count(out, "<polyline"); n != 10 {
			t.Errorf("%d lines drawn, want 10", n)
		}
	}
}

func TestSpectrum(t *testing.T) {
	doc := Build(fakeRun("closed"))
	pts := spectrum(doc.Targets[0].Histogram)
	for i := 1; i < len(pts); i++ {
		if pts[i][0] < pts[i-1][0] || pts[i][1] < pts[i-1][1] {
			t.Fatalf("spectrum not monotonic at %d: %v then %v", i, pts[i-1], pts[i])
		}
	}
	if last := pts[len(pts)-1]; last[0] != 3 || last[1] < 1.99 || last[1] > 2.01 {
		t.Errorf("spectrum ends at %v, want 3 nines (1000 values) and about 2ms", last)
	}
}

func TestFormatting(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{ms(0.0523), "52.3µs"}, {ms(0.5), "500µs"}, {ms(1.234), "1.23ms"}, {ms(12.34), "12.3ms"},
		{ms(1234), "1.23s"}, {ms(0), "0"}, {group(0), "0"}, {group(1234567), "1,234,567"}, {group(999), "999"},
		{ninesLabel(0), "0%"}, {ninesLabel(1), "90%"}, {ninesLabel(3), "99.9%"}, {ninesLabel(5), "99.999%"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
