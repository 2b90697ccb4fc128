// Package report turns a load.Result into what people read: a summary
// table, a JSON document for tools, and a plot (SVG, or HTML around it) of
// latency over time and latency distribution.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/hist"
	"github.com/portcullis-mcp/portcullis/bench/load"
	"github.com/portcullis-mcp/portcullis/bench/mcpclient"
)

// Settings records how the run was configured, for the reader.
type Settings struct {
	Model           string   `json:"model"` // "closed" or "open"
	Concurrency     int      `json:"concurrency"`
	Rate            float64  `json:"rate,omitempty"`
	DurationS       float64  `json:"duration_s,omitempty"`
	Requests        int64    `json:"requests,omitempty"`
	WarmupS         float64  `json:"warmup_s"`
	SliceS          float64  `json:"slice_s,omitempty"`
	TimeoutS        float64  `json:"timeout_s"`
	Sessions        int      `json:"sessions"`
	Transport       string   `json:"transport"`
	ProtocolVersion string   `json:"protocol_version"`
	Mix             string   `json:"mix"`
	Args            []string `json:"args,omitempty"` // the command line
}

// Run is one finished benchmark.
type Run struct {
	Started  time.Time
	Settings Settings
	Result   *load.Result
}

// Document is the JSON form of a Run.
type Document struct {
	Tool     string      `json:"tool"`
	Started  time.Time   `json:"started"`
	Settings Settings    `json:"settings"`
	ElapsedS float64     `json:"elapsed_s"`
	Targets  []TargetDoc `json:"targets"`
	// Ratio divides the second target's figures by the first's.
	Ratio  *RatioDoc `json:"ratio,omitempty"`
	Client ClientDoc `json:"client"`
}

// TargetDoc is one endpoint's results.
type TargetDoc struct {
	Label          string            `json:"label"`
	URL            string            `json:"url"`
	SessionsOpened int               `json:"sessions_opened"`
	SetupErrors    map[string]uint64 `json:"setup_errors,omitempty"`
	ActiveS        float64           `json:"active_s"`
	Requests       uint64            `json:"requests"`
	OK             uint64            `json:"ok"`
	Errors         uint64            `json:"errors"`
	ErrorKinds     map[string]uint64 `json:"error_kinds,omitempty"`
	HTTPStatus     map[string]uint64 `json:"http_status,omitempty"`
	RPCCodes       map[string]uint64 `json:"jsonrpc_codes,omitempty"`
	ErrorSamples   map[string]string `json:"error_samples,omitempty"`
	ThroughputRPS  float64           `json:"throughput_rps"`
	// LatencyMS covers successful requests: from the intended send time in
	// open loop, from the actual one in closed loop.
	LatencyMS Percentiles  `json:"latency_ms"`
	ServiceMS *Percentiles `json:"service_ms,omitempty"`
	Methods   []MethodDoc  `json:"methods"`
	Timeline  []PointDoc   `json:"timeline"`
	Histogram []BucketDoc  `json:"histogram"`
}

// Percentiles summarises a latency histogram in milliseconds.
type Percentiles struct {
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	Count uint64  `json:"count"`
}

// MethodDoc is one entry of the mix.
type MethodDoc struct {
	Method    string      `json:"method"`
	Requests  uint64      `json:"requests"`
	Errors    uint64      `json:"errors"`
	LatencyMS Percentiles `json:"latency_ms"`
}

// PointDoc is one interval of the timeline; T is its start in seconds.
type PointDoc struct {
	T        float64 `json:"t_s"`
	Requests uint64  `json:"requests"`
	Errors   uint64  `json:"errors"`
	RPS      float64 `json:"rps"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
}

// BucketDoc is one non-empty histogram bucket, bounds in microseconds.
type BucketDoc struct {
	LowUS  float64 `json:"low_us"`
	HighUS float64 `json:"high_us"`
	Count  uint64  `json:"count"`
}

// RatioDoc compares the second target with the first (B / A).
type RatioDoc struct {
	Throughput float64 `json:"throughput"`
	P50        float64 `json:"p50"`
	P90        float64 `json:"p90"`
	P99        float64 `json:"p99"`
	P999       float64 `json:"p99_9"`
	Max        float64 `json:"max"`
	Mean       float64 `json:"mean"`
}

// ClientDoc describes the load generator's own cost.
type ClientDoc struct {
	CPUUserS        float64 `json:"cpu_user_s"`
	CPUSystemS      float64 `json:"cpu_system_s"`
	CPUPerRequestUS float64 `json:"cpu_per_request_us"`
	Unsent          int64   `json:"unsent"`
	Abandoned       int64   `json:"abandoned"`
	Interrupted     bool    `json:"interrupted"`
	GOMAXPROCS      int     `json:"gomaxprocs"`
	NumCPU          int     `json:"num_cpu"`
}

// Build assembles the document of a run.
func Build(r Run) Document {
	res := r.Result
	doc := Document{
		Tool: "portcullis bench", Started: r.Started, Settings: r.Settings, ElapsedS: res.Elapsed.Seconds(),
		Client: ClientDoc{
			CPUUserS: res.CPUUser.Seconds(), CPUSystemS: res.CPUSystem.Seconds(),
			CPUPerRequestUS: micros(res.CPUPerRequest()), Unsent: res.Unsent, Abandoned: res.Abandoned,
			Interrupted: res.Interrupted, GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(),
		},
	}
	for _, t := range res.Targets {
		doc.Targets = append(doc.Targets, buildTarget(t, r.Settings.Model == "open"))
	}
	if len(doc.Targets) == 2 {
		a, b := doc.Targets[0], doc.Targets[1]
		doc.Ratio = &RatioDoc{
			Throughput: ratio(b.ThroughputRPS, a.ThroughputRPS),
			P50:        ratio(b.LatencyMS.P50, a.LatencyMS.P50), P90: ratio(b.LatencyMS.P90, a.LatencyMS.P90),
			P99: ratio(b.LatencyMS.P99, a.LatencyMS.P99), P999: ratio(b.LatencyMS.P999, a.LatencyMS.P999),
			Max: ratio(b.LatencyMS.Max, a.LatencyMS.Max), Mean: ratio(b.LatencyMS.Mean, a.LatencyMS.Mean),
		}
	}
	return doc
}

func buildTarget(t *load.TargetResult, openLoop bool) TargetDoc {
	d := TargetDoc{
		Label: t.Label, URL: t.URL, SessionsOpened: t.SessionsOpened, ActiveS: t.Active.Seconds(),
		Requests: t.Requests, OK: t.OK, Errors: t.ErrorCount(), ThroughputRPS: t.Throughput(),
		SetupErrors: kindCounts(t.SetupErrors), ErrorKinds: kindCounts(t.Errors),
		HTTPStatus: codeCounts(t.HTTPStatus), RPCCodes: codeCounts(t.RPCCodes),
		LatencyMS: percentiles(&t.Latency),
	}
	if openLoop {
		p := percentiles(&t.Service)
		d.ServiceMS = &p
	}
	for k, s := range t.Samples {
		if s != "" {
			if d.ErrorSamples == nil {
				d.ErrorSamples = map[string]string{}
			}
			d.ErrorSamples[mcpclient.Kind(k).String()] = s
		}
	}
	for _, m := range t.Methods {
		d.Methods = append(d.Methods, MethodDoc{Method: m.Method, Requests: m.Count, Errors: m.Errors, LatencyMS: percentiles(&m.Latency)})
	}
	for _, p := range t.Timeline {
		pd := PointDoc{T: p.Start.Seconds(), Requests: p.Requests, Errors: p.Errors}
		if p.Latency.Count() > 0 {
			pd.P50, pd.P99, pd.Max = millis(p.Latency.Quantile(0.5)), millis(p.Latency.Quantile(0.99)), millis(p.Latency.Max())
		}
		d.Timeline = append(d.Timeline, pd)
	}
	// Timeline rates need the interval: the spacing of the points.
	if len(t.Timeline) > 1 {
		interval := (t.Timeline[1].Start - t.Timeline[0].Start).Seconds()
		for i := range d.Timeline {
			d.Timeline[i].RPS = float64(d.Timeline[i].Requests) / interval
		}
	}
	d.Histogram = []BucketDoc{}
	t.Latency.Buckets(func(b hist.Bucket) {
		d.Histogram = append(d.Histogram, BucketDoc{LowUS: float64(b.Low) / 1e3, HighUS: float64(b.High) / 1e3, Count: b.Count})
	})
	return d
}

// WriteJSON writes the document of r, indented.
func WriteJSON(w io.Writer, r Run) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Build(r)); err != nil {
		return fmt.Errorf("report: json: %w", err)
	}
	return nil
}

func percentiles(h *hist.Histogram) Percentiles {
	return Percentiles{
		Min: millis(h.Min()), Mean: h.Mean() / 1e6, P50: millis(h.Quantile(0.5)), P90: millis(h.Quantile(0.9)),
		P99: millis(h.Quantile(0.99)), P999: millis(h.Quantile(0.999)), Max: millis(h.Max()), Count: h.Count(),
	}
}

func kindCounts(counts [mcpclient.NumKinds]uint64) map[string]uint64 {
	var m map[string]uint64
	for k, n := range counts {
		if n > 0 {
			if m == nil {
				m = map[string]uint64{}
			}
			m[mcpclient.Kind(k).String()] = n
		}
	}
	return m
}

func codeCounts(counts map[int]uint64) map[string]uint64 {
	if len(counts) == 0 {
		return nil
	}
	m := make(map[string]uint64, len(counts))
	for code, n := range counts {
		m[strconv.Itoa(code)] = n
	}
	return m
}

func millis(ns int64) float64        { return float64(ns) / 1e6 }
func micros(d time.Duration) float64 { return float64(d) / 1e3 }

func ratio(b, a float64) float64 {
	if a == 0 {
		return 0
	}
	return b / a
}
