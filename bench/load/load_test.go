package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/internal/benchtest"
	"github.com/portcullis-mcp/portcullis/bench/internal/sdkecho"
	"github.com/portcullis-mcp/portcullis/bench/mcpclient"
)

// testTarget builds a target whose mix is method=weight pairs; tools/call
// calls echo.
func testTarget(t testing.TB, label string, o mcpclient.Options, mix map[string]int) Target {
	t.Helper()
	o.MaxConns = 64
	e, err := mcpclient.NewEndpoint(o)
	if err != nil {
		t.Fatal(err)
	}
	tg := Target{Label: label, Endpoint: e}
	for _, method := range []string{"tools/call", "tools/list", "resources/read", "prompts/get"} {
		if mix[method] == 0 {
			continue
		}
		name := "echo"
		if method == "resources/read" {
			name = "echo://hello"
		}
		c, err := e.Compile(method, name, json.RawMessage(`{"message":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		tg.Mix = append(tg.Mix, Weighted{Call: c, Weight: mix[method]})
	}
	return tg
}

func mustRun(t testing.TB, cfg Config) *Result {
	t.Helper()
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func assertNoErrors(t *testing.T, r *TargetResult) {
	t.Helper()
	if r.Requests == 0 || r.OK != r.Requests {
		t.Errorf("%s: %d requests, %d ok, errors %v, samples %q", r.Label, r.Requests, r.OK, r.Errors, r.Samples)
	}
}

// TestRun_RealServers runs a closed loop with a mixed workload against the
// echo server and the go-sdk's own servers: none may report an error.
func TestRun_RealServers(t *testing.T) {
	mix := map[string]int{"tools/call": 6, "tools/list": 2, "resources/read": 1, "prompts/get": 1}
	tests := []struct {
		name string
		opts mcpclient.Options
	}{
		{"echo", mcpclient.Options{URL: benchtest.Echo(t)}},
		{"go-sdk streamable", mcpclient.Options{URL: benchtest.HTTP(t, sdkecho.Streamable(false, false))}},
		{"go-sdk stateless", mcpclient.Options{URL: benchtest.HTTP(t, sdkecho.Streamable(true, false)), ProtocolVersion: mcpclient.VersionStateless}},
		{"go-sdk legacy sse", mcpclient.Options{URL: benchtest.HTTP(t, sdkecho.SSE()), Transport: mcpclient.LegacySSE}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := testTarget(t, tt.name, tt.opts, mix)
			tg.Sessions = 2
			res := mustRun(t, Config{Targets: []Target{tg}, Concurrency: 4, Duration: 400 * time.Millisecond,
				Warmup: 100 * time.Millisecond, Interval: 100 * time.Millisecond})
			r := res.Targets[0]
			assertNoErrors(t, r)
			if r.SessionsOpened != 2 {
				t.Errorf("opened %d sessions, want 2", r.SessionsOpened)
			}
			if calls, lists := r.Methods[0].Count, r.Methods[1].Count; calls < 2*lists || lists == 0 {
				t.Errorf("mix 6:2:1:1 gave tools/call %d, tools/list %d", calls, lists)
			}
			if len(r.Timeline) < 3 || r.Active != res.Elapsed || r.Latency.Count() != r.OK {
				t.Errorf("timeline %d points, active %v of %v, %d latencies", len(r.Timeline), r.Active, res.Elapsed, r.Latency.Count())
			}
		})
	}
}

func TestRun_RequestCount(t *testing.T) {
	tg := testTarget(t, "echo", mcpclient.Options{URL: benchtest.Echo(t)}, map[string]int{"tools/call": 1})
	for _, rate := range []float64{0, 2000} {
		res := mustRun(t, Config{Targets: []Target{tg}, Concurrency: 3, Requests: 300, Rate: rate, Warmup: 50 * time.Millisecond})
		if got := res.Targets[0].Requests; got != 300 {
			t.Errorf("rate %v: measured %d requests, want 300", rate, got)
		}
	}
}

// stallingServer answers at once, except that requests arriving in
// [from, to) after the first one wait until to.
func stallingServer(t *testing.T, from, to time.Duration) string {
	var once sync.Once
	var first time.Time
	quit := make(chan struct{})
	url := benchtest.HTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		once.Do(func() { first = now })
		var req struct{ ID json.RawMessage }
		_ = json.NewDecoder(r.Body).Decode(&req)
		if since := now.Sub(first); since >= from && since < to {
			select {
			case <-time.After(to - since):
			case <-r.Context().Done():
				return
			case <-quit:
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[]}}`, req.ID)
	}))
	t.Cleanup(func() { close(quit) }) // runs before the server's Close
	return url
}

// TestRun_OpenLoopCountsTheStall checks the open loop against coordinated
// omission: during a 300 ms stall, requests keep falling due, and their
// latency from the intended send time must show the wait, while the service
// time (from the actual send) shows only the few that were stuck.
func TestRun_OpenLoopCountsTheStall(t *testing.T) {
	url := stallingServer(t, 200*time.Millisecond, 500*time.Millisecond)
	tg := testTarget(t, "stall", mcpclient.Options{URL: url, ProtocolVersion: mcpclient.VersionStateless}, map[string]int{"tools/list": 1})
	res := mustRun(t, Config{Targets: []Target{tg}, Concurrency: 8, Rate: 500, Duration: 1500 * time.Millisecond})
	r := res.Targets[0]
	assertNoErrors(t, r)
	// About 100 of the 750 requests fell due 100 ms or more before they could
	// go; a generator with coordinated omission would report only the 8 that
	// were in the server.
	if p90 := time.Duration(r.Latency.Quantile(0.9)); p90 < 100*time.Millisecond {
		t.Errorf("p90 latency from intended time %v, want >= 100ms: the stall is hidden", p90)
	}
	if p90 := time.Duration(r.Service.Quantile(0.9)); p90 >= 100*time.Millisecond {
		t.Errorf("p90 service time %v, want < 100ms: only the stuck senders waited", p90)
	}
	if r.Requests < 600 || r.Requests+uint64(res.Unsent) < 740 {
		t.Errorf("%d requests sent, %d unsent, want about 750 in all, most sent once the stall cleared", r.Requests, res.Unsent)
	}
}

// TestRun_OpenLoopReportsUnsent checks that requests the senders could not
// send before the end are reported, not silently dropped.
func TestRun_OpenLoopReportsUnsent(t *testing.T) {
	url := stallingServer(t, 0, time.Hour)
	tg := testTarget(t, "stuck", mcpclient.Options{URL: url, ProtocolVersion: mcpclient.VersionStateless}, map[string]int{"tools/list": 1})
	start := time.Now()
	res := mustRun(t, Config{Targets: []Target{tg}, Concurrency: 2, Rate: 200, Duration: 500 * time.Millisecond,
		Timeout: 5 * time.Second, Grace: 200 * time.Millisecond})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("run took %v, want about 700ms", took)
	}
	if res.Unsent < 80 {
		t.Errorf("unsent %d, want about 98 of the 100 due", res.Unsent)
	}
}

// TestRun_Compare alternates two targets and checks that each got its share.
func TestRun_Compare(t *testing.T) {
	a := testTarget(t, "direct", mcpclient.Options{URL: benchtest.Echo(t)}, map[string]int{"tools/call": 1})
	b := testTarget(t, "sdk", mcpclient.Options{URL: benchtest.HTTP(t, sdkecho.Streamable(false, true))}, map[string]int{"tools/call": 1})
	res := mustRun(t, Config{Targets: []Target{a, b}, Concurrency: 4, Duration: 800 * time.Millisecond, Slice: 100 * time.Millisecond,
		Interval: 100 * time.Millisecond})
	for _, r := range res.Targets {
		assertNoErrors(t, r)
		if r.Active < 350*time.Millisecond || r.Active > 450*time.Millisecond {
			t.Errorf("%s active %v, want half of 800ms", r.Label, r.Active)
		}
		busy := 0
		for _, p := range r.Timeline {
			if p.Requests > 0 {
				busy++
			}
		}
		if busy < 3 || busy > 6 {
			t.Errorf("%s had requests in %d of %d slices, want about every other one", r.Label, busy, len(r.Timeline))
		}
	}
}

// TestRun_FailingServers checks that failures are counted by kind and that
// the run ends on time whatever the server does.
func TestRun_FailingServers(t *testing.T) {
	refused := benchtest.Refused(t)
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	tests := []struct {
		name string
		url  string
		want mcpclient.Kind
	}{
		{"refused", refused, mcpclient.ConnRefused},
		{"500", benchtest.HTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })), mcpclient.HTTPStatus},
		{"stuck", benchtest.HTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leave
			select {
			case <-stuck:
			case <-r.Context().Done():
			}
		})), mcpclient.Timeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := testTarget(t, tt.name, mcpclient.Options{URL: tt.url}, map[string]int{"tools/call": 1})
			start := time.Now()
			res := mustRun(t, Config{Targets: []Target{tg}, Concurrency: 2, Duration: 300 * time.Millisecond,
				Timeout: 100 * time.Millisecond, Grace: 100 * time.Millisecond})
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("run took %v", took)
			}
			r := res.Targets[0]
			if r.Errors[tt.want] == 0 || r.OK != 0 || r.SetupErrors[tt.want] == 0 {
				t.Errorf("errors %v, setup errors %v, ok %d; want %v", r.Errors, r.SetupErrors, r.OK, tt.want)
			}
			if r.Samples[tt.want] == "" {
				t.Errorf("no sample message for %v", tt.want)
			}
		})
	}
}

func TestInterleave(t *testing.T) {
	got := fmt.Sprint(interleave([]int{3, 1}))
	if got != "[0 0 1 0]" && got != "[0 1 0 0]" {
		t.Errorf("interleave(3,1) = %s", got)
	}
	counts := map[int]int{}
	for _, i := range interleave([]int{5, 3, 2}) {
		counts[i]++
	}
	if counts[0] != 5 || counts[1] != 3 || counts[2] != 2 {
		t.Errorf("interleave(5,3,2) counts %v", counts)
	}
}

func TestRun_RejectsBadConfig(t *testing.T) {
	tg := testTarget(t, "x", mcpclient.Options{URL: "http://127.0.0.1:1/mcp"}, map[string]int{"tools/call": 1})
	for _, cfg := range []Config{
		{Targets: nil, Concurrency: 1, Duration: time.Second},
		{Targets: []Target{tg}, Concurrency: 0, Duration: time.Second},
		{Targets: []Target{tg}, Concurrency: 1},
		{Targets: []Target{tg, tg, tg}, Concurrency: 1, Duration: time.Second},
		{Targets: []Target{{Label: "empty", Endpoint: tg.Endpoint}}, Concurrency: 1, Duration: time.Second},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) accepted", cfg)
		}
	}
}

// BenchmarkRun_EchoToolsCall measures the generator's cost per request
// against the in-process echo server: ns/op, allocations and CPU per request
// include the server's share, so they bound the generator's from above.
func BenchmarkRun_EchoToolsCall(b *testing.B) {
	tg := testTarget(b, "echo", mcpclient.Options{URL: benchtest.Echo(b)}, map[string]int{"tools/call": 1})
	b.ReportAllocs()
	b.ResetTimer()
	res := mustRun(b, Config{Targets: []Target{tg}, Concurrency: 16, Requests: int64(b.N)})
	b.ReportMetric(float64(res.Targets[0].Requests)/res.Elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(res.CPUPerRequest())/1e3, "cpu-µs/req") // generator and server together
	if res.Targets[0].OK != uint64(b.N) {
		b.Fatalf("%d of %d ok: %v", res.Targets[0].OK, b.N, res.Targets[0].Samples)
	}
}
