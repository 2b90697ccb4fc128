package load

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/hist"
	"github.com/portcullis-mcp/portcullis/bench/mcpclient"
)

// TargetResult is everything measured against one endpoint.
type TargetResult struct {
	Label string
	URL   string
	// Active is how long, within the measured window, load went to this
	// target: all of it, or its share of the alternating slices.
	Active time.Duration

	Requests uint64 // completed, successful or not
	OK       uint64
	Errors   [mcpclient.NumKinds]uint64
	// HTTPStatus and RPCCodes break down the HTTPStatus and RPCError kinds.
	HTTPStatus map[int]uint64
	RPCCodes   map[int]uint64
	// Samples keeps the first error message of each kind.
	Samples [mcpclient.NumKinds]string

	// Latency is measured from the intended send time in open loop and from
	// the actual send time in closed loop; Service always from the actual
	// send time.
	Latency hist.Histogram
	Service hist.Histogram

	Methods  []MethodResult
	Timeline []Point

	// SessionsOpened counts sessions that opened before the clock started;
	// SetupErrors counts the failures, which workers retry during the run.
	SessionsOpened int
	SetupErrors    [mcpclient.NumKinds]uint64
}

// ErrorCount returns the number of failed requests.
func (r *TargetResult) ErrorCount() uint64 { return r.Requests - r.OK }

// Throughput returns completed requests per second of active time.
func (r *TargetResult) Throughput() float64 {
	if r.Active <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Active.Seconds()
}

// MethodResult is the share of one entry of the mix.
type MethodResult struct {
	Method  string
	Count   uint64
	Errors  uint64
	Latency hist.Histogram
}

// Point is one interval of the timeline, starting Start after the measured
// window opened.
type Point struct {
	Start    time.Duration
	Requests uint64
	Errors   uint64
	Latency  hist.Histogram
}

// recorder collects the outcomes of one target. A mutex is enough: holding
// it costs tens of nanoseconds per request, far below a request's cost.
type recorder struct {
	mu       sync.Mutex
	res      TargetResult
	closed   bool
	open     bool // open loop: record service time too
	interval time.Duration
	// live counters for the progress line
	done, failed atomic.Uint64
}

func newRecorder(label, url string, methods []string, interval time.Duration, openLoop bool) *recorder {
	r := &recorder{interval: interval, open: openLoop}
	r.res.Label, r.res.URL = label, url
	r.res.HTTPStatus = map[int]uint64{}
	r.res.RPCCodes = map[int]uint64{}
	for _, m := range methods {
		r.res.Methods = append(r.res.Methods, MethodResult{Method: m})
	}
	return r
}

// record adds one measured request; since is its offset in the measured
// window, latency and service its two durations.
func (r *recorder) record(method int, since, latency, service time.Duration, out mcpclient.Outcome) {
	r.done.Add(1)
	if out.Kind != mcpclient.OK {
		r.failed.Add(1)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	res := &r.res
	res.Requests++
	m := &res.Methods[method]
	m.Count++
	idx := int(since / r.interval)
	for len(res.Timeline) <= idx {
		res.Timeline = append(res.Timeline, Point{Start: time.Duration(len(res.Timeline)) * r.interval})
	}
	p := &res.Timeline[idx]
	p.Requests++
	if out.Kind != mcpclient.OK {
		res.Errors[out.Kind]++
		m.Errors++
		p.Errors++
		switch out.Kind {
		case mcpclient.HTTPStatus:
			res.HTTPStatus[out.Code]++
		case mcpclient.RPCError:
			res.RPCCodes[out.Code]++
		}
		if res.Samples[out.Kind] == "" && out.Err != nil {
			res.Samples[out.Kind] = out.Err.Error()
		}
		return
	}
	res.OK++
	res.Latency.Record(int64(latency))
	if r.open {
		res.Service.Record(int64(service))
	}
	m.Latency.Record(int64(latency))
	p.Latency.Record(int64(latency))
}

func (r *recorder) setup(out mcpclient.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if out.Kind == mcpclient.OK {
		r.res.SessionsOpened++
		return
	}
	r.res.SetupErrors[out.Kind]++
	if r.res.Samples[out.Kind] == "" && out.Err != nil {
		r.res.Samples[out.Kind] = "session setup: " + out.Err.Error()
	}
}

// close stops recording and hands out the result; requests still in flight
// after this are not counted.
func (r *recorder) close(active time.Duration) *TargetResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.res.Active = active
	return &r.res
}
