// Package load drives MCP endpoints with a workload and records what
// happens.
//
// Two load models are offered. Closed loop runs N workers that each send a
// request as soon as the previous one is answered: it finds the throughput a
// server sustains. Open loop sends at a fixed rate whatever the server does,
// and measures each request's latency from the moment it was meant to be
// sent, so that a server that stalls is charged for the requests queued
// behind the stall (no coordinated omission).
//
// With two targets, the run alternates between them in short slices
// (A B A B ...), so that both see the same machine noise.
package load

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/mcpclient"
)

// Target is one endpoint and the calls to send it.
type Target struct {
	Label    string
	Endpoint *mcpclient.Endpoint
	Mix      []Weighted
	// Sessions to spread the load over; each worker sticks to one.
	Sessions int
}

// Weighted is one entry of a target's mix.
type Weighted struct {
	Call   *mcpclient.Call
	Weight int
}

// Config describes a run. Zero values take the documented defaults.
type Config struct {
	Targets []Target // one, or two to compare
	// Concurrency is the number of workers in closed loop and the most
	// requests in flight in open loop.
	Concurrency int
	// Rate, when positive, selects open loop at that many requests a second.
	Rate float64
	// Duration of the measured window; Requests ends it earlier (or alone
	// when Duration is zero) after that many measured requests.
	Duration time.Duration
	Requests int64
	// Warmup runs the workload unmeasured before the window.
	Warmup time.Duration
	// Slice is the length of each turn in compare mode (default 1s).
	Slice time.Duration
	// Timeout bounds each request (default 10s).
	Timeout time.Duration
	// Grace is how long requests in flight at the end may still finish
	// (default the smaller of Timeout and 2s); the run returns by then.
	Grace time.Duration
	// Interval is the resolution of the timeline (default 1s).
	Interval time.Duration
	// Progress, when set, is called every ProgressEvery (default 250ms).
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Progress is a live view of a run.
type Progress struct {
	Elapsed  time.Duration // since the measured window opened; negative in warm-up
	Duration time.Duration // of the window, zero when only Requests bounds it
	Requests uint64        // measured so far, all targets
	Errors   uint64
	InFlight int64
	Target   string // in compare mode, the label of the target now receiving load
}

// Result is the outcome of a run.
type Result struct {
	Targets []*TargetResult
	// Elapsed is the measured window as it actually ran.
	Elapsed time.Duration
	// CPU is the load generator's own user and system time in the window.
	CPUUser, CPUSystem time.Duration
	// Unsent counts open-loop requests that were due but never sent because
	// every sender was busy: the server fell behind the rate.
	Unsent int64
	// Abandoned counts requests still in flight when the run returned.
	Abandoned   int64
	Interrupted bool
}

// CPUPerRequest returns the generator's CPU time per completed request.
func (r *Result) CPUPerRequest() time.Duration {
	var n uint64
	for _, t := range r.Targets {
		n += t.Requests
	}
	if n == 0 {
		return 0
	}
	return (r.CPUUser + r.CPUSystem) / time.Duration(n)
}

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	switch {
	case len(cfg.Targets) < 1 || len(cfg.Targets) > 2:
		return cfg, fmt.Errorf("load: want one or two targets, got %d", len(cfg.Targets))
	case cfg.Concurrency < 1:
		return cfg, errors.New("load: concurrency must be at least 1")
	case cfg.Duration <= 0 && cfg.Requests <= 0:
		return cfg, errors.New("load: need a duration or a request count")
	case cfg.Rate < 0 || cfg.Duration < 0 || cfg.Requests < 0 || cfg.Warmup < 0:
		return cfg, errors.New("load: negative rate, duration, request count or warm-up")
	}
	for _, t := range cfg.Targets {
		if len(t.Mix) == 0 {
			return cfg, fmt.Errorf("load: target %s has an empty mix", t.Label)
		}
		for _, w := range t.Mix {
			if w.Weight < 1 || w.Weight > 1000 {
				return cfg, fmt.Errorf("load: target %s: weight %d of %s not in 1..1000", t.Label, w.Weight, w.Call.Method)
			}
		}
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{{&cfg.Slice, time.Second}, {&cfg.Timeout, 10 * time.Second}, {&cfg.Interval, time.Second}, {&cfg.ProgressEvery, 250 * time.Millisecond}}
	for _, d := range defaults {
		if *d.d <= 0 {
			*d.d = d.def
		}
	}
	if cfg.Grace <= 0 {
		cfg.Grace = min(cfg.Timeout, 2*time.Second)
	}
	return cfg, nil
}

// forever stands for "no end" in deadline arithmetic.
const forever = 100 * 365 * 24 * time.Hour

// run is the state shared by the workers of one Run.
type run struct {
	cfg          Config
	targets      []*target
	t0           time.Time // start of warm-up
	measureStart time.Time
	measureEnd   time.Time // planned
	hardStop     time.Time // planned: no request deadline goes past it
	stop         chan struct{}
	stopOnce     sync.Once
	stopped      atomic.Bool
	measured     atomic.Int64 // measured requests admitted, against cfg.Requests
	sent         atomic.Int64 // measured requests sent
	nextSlot     atomic.Int64 // open loop: the next free slot of the schedule
	inFlight     atomic.Int64
}

type target struct {
	Target
	sessions []mcpclient.Session
	schedule []int // indexes into Mix, interleaved by weight
	rec      *recorder
}

// Run executes the workload until the duration passes, the request count is
// reached or ctx is cancelled, and returns what it measured. It returns an
// error only for an invalid Config; failures of the servers are results.
func Run(ctx context.Context, c Config) (*Result, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, stop: make(chan struct{})}
	for _, t := range cfg.Targets {
		r.targets = append(r.targets, newTarget(t, cfg))
	}
	r.openSessions(ctx)
	defer r.closeSessions()

	r.t0 = time.Now()
	r.measureStart = r.t0.Add(cfg.Warmup)
	window := forever
	if cfg.Duration > 0 {
		window = cfg.Duration
	}
	r.measureEnd = r.measureStart.Add(window)
	r.hardStop = r.measureEnd.Add(cfg.Grace)

	var usageStart cpuUsage
	clockDone := make(chan struct{})
	go func() {
		defer close(clockDone)
		r.clock(ctx, &usageStart)
	}()

	var workers sync.WaitGroup
	for w := range cfg.Concurrency {
		workers.Go(func() {
			sc := mcpclient.NewScratch()
			if cfg.Rate > 0 {
				r.openLoopWorker(w, sc)
			} else {
				r.closedLoopWorker(w, sc)
			}
		})
	}
	workersDone := make(chan struct{})
	go func() { workers.Wait(); close(workersDone) }()

	select {
	case <-workersDone: // the request count was reached
		r.halt()
	case <-r.stop:
	}
	stopAt := time.Now()
	select {
	case <-workersDone:
	case <-time.After(time.Until(earlier(stopAt.Add(cfg.Grace), r.hardStop))):
	}
	usageEnd := readCPU()
	<-clockDone

	res := &Result{
		Abandoned:   r.inFlight.Load(),
		Interrupted: ctx.Err() != nil,
		Elapsed:     max(earlier(stopAt, r.measureEnd).Sub(r.measureStart), 0),
	}
	if usageStart.ok && usageEnd.ok {
		res.CPUUser, res.CPUSystem = usageEnd.user-usageStart.user, usageEnd.system-usageStart.system
	}
	if cfg.Rate > 0 {
		res.Unsent = r.unsent(stopAt)
	}
	for i, t := range r.targets {
		res.Targets = append(res.Targets, t.rec.close(r.activeTime(i, res.Elapsed)))
	}
	return res, nil
}

func newTarget(t Target, cfg Config) *target {
	methods := make([]string, len(t.Mix))
	weights := make([]int, len(t.Mix))
	for i, w := range t.Mix {
		methods[i], weights[i] = w.Call.Method, w.Weight
	}
	tg := &target{
		Target:   t,
		schedule: interleave(weights),
		rec:      newRecorder(t.Label, t.Endpoint.URL(), methods, cfg.Interval, cfg.Rate > 0),
	}
	n := t.Sessions
	if n <= 0 {
		n = cfg.Concurrency
	}
	for range n {
		tg.sessions = append(tg.sessions, t.Endpoint.NewSession())
	}
	return tg
}

// interleave spreads each index over a cycle as evenly as its weight allows
// (smooth weighted round robin), so a short run still sees the mix.
func interleave(weights []int) []int {
	total := 0
	for _, w := range weights {
		total += w
	}
	current := make([]int, len(weights))
	schedule := make([]int, 0, total)
	for range total {
		best := 0
		for i, w := range weights {
			current[i] += w
			if current[i] > current[best] {
				best = i
			}
		}
		current[best] -= total
		schedule = append(schedule, best)
	}
	return schedule
}

// openSessions initializes every session before the clock starts, a few at
// a time, so that the measurement does not include handshakes.
func (r *run) openSessions(ctx context.Context) {
	deadline := time.Now().Add(r.cfg.Timeout)
	type job struct {
		t *target
		s mcpclient.Session
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			sc := mcpclient.NewScratch()
			for j := range jobs {
				j.t.rec.setup(j.s.Open(sc, deadline))
			}
		})
	}
feed:
	for _, t := range r.targets {
		for _, s := range t.sessions {
			select {
			case jobs <- job{t, s}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
}

func (r *run) closeSessions() {
	var wg sync.WaitGroup
	for _, t := range r.targets {
		for _, s := range t.sessions {
			wg.Go(s.Close)
		}
	}
	wg.Wait()
	for _, t := range r.targets {
		t.Endpoint.CloseIdleConnections()
	}
}

// clock samples CPU use when the window opens, reports progress, and stops
// the run when the window closes or ctx is cancelled.
func (r *run) clock(ctx context.Context, usageStart *cpuUsage) {
	tick := time.NewTicker(r.cfg.ProgressEvery)
	defer tick.Stop()
	open := time.NewTimer(time.Until(r.measureStart))
	defer open.Stop()
	end := time.NewTimer(time.Until(r.measureEnd))
	defer end.Stop()
	if r.cfg.Warmup == 0 {
		*usageStart = readCPU()
	}
	for {
		select {
		case <-open.C:
			*usageStart = readCPU()
		case <-tick.C:
			r.report()
		case <-end.C:
			r.halt()
		case <-ctx.Done():
			r.halt()
		case <-r.stop:
			r.report()
			return
		}
	}
}

func (r *run) report() {
	if r.cfg.Progress == nil {
		return
	}
	now := time.Now()
	p := Progress{Elapsed: now.Sub(r.measureStart), Duration: r.cfg.Duration, InFlight: r.inFlight.Load()}
	for _, t := range r.targets {
		p.Requests += t.rec.done.Load()
		p.Errors += t.rec.failed.Load()
	}
	if len(r.targets) > 1 {
		p.Target = r.targets[r.targetAt(now)].Label
	}
	r.cfg.Progress(p)
}

func (r *run) halt() {
	r.stopOnce.Do(func() {
		r.stopped.Store(true)
		close(r.stop)
	})
}

// targetAt returns which target owns the slice holding t.
func (r *run) targetAt(t time.Time) int {
	if len(r.targets) == 1 {
		return 0
	}
	return int(t.Sub(r.t0)/r.cfg.Slice) % len(r.targets)
}

// activeTime returns how much of the measured window went to target i.
func (r *run) activeTime(i int, window time.Duration) time.Duration {
	n := len(r.targets)
	if n == 1 {
		return window
	}
	// Walk the slices overlapping [measureStart, measureStart+window).
	from, to := r.measureStart.Sub(r.t0), r.measureStart.Sub(r.t0)+window
	var active time.Duration
	for s := from / r.cfg.Slice; time.Duration(s)*r.cfg.Slice < to; s++ {
		if int(s)%n != i {
			continue
		}
		lo, hi := max(time.Duration(s)*r.cfg.Slice, from), min(time.Duration(s+1)*r.cfg.Slice, to)
		active += hi - lo
	}
	return active
}

// send performs one request of worker w at time start, which it meant to
// send at intended, and records it if it falls in the measured window.
func (r *run) send(w int, sc *mcpclient.Scratch, cursor *int, intended time.Time) {
	t := r.targets[r.targetAt(intended)]
	entry := t.schedule[*cursor%len(t.schedule)]
	*cursor++
	session := t.sessions[w%len(t.sessions)]

	start := time.Now()
	deadline := earlier(start.Add(r.cfg.Timeout), r.hardStop)
	r.inFlight.Add(1)
	out := session.Do(sc, t.Mix[entry].Call, deadline)
	end := time.Now()
	r.inFlight.Add(-1)
	if intended.Before(r.measureStart) || !intended.Before(r.measureEnd) {
		return
	}
	r.sent.Add(1)
	t.rec.record(entry, intended.Sub(r.measureStart), end.Sub(intended), end.Sub(start), out)
}

// admit reports whether one more measured request may begin.
func (r *run) admit(intended time.Time) bool {
	if r.stopped.Load() || !intended.Before(r.measureEnd) {
		return false
	}
	if intended.Before(r.measureStart) || r.cfg.Requests <= 0 {
		return true
	}
	if r.measured.Add(1) > r.cfg.Requests {
		return false
	}
	return true
}

func (r *run) closedLoopWorker(w int, sc *mcpclient.Scratch) {
	cursor := w
	for {
		now := time.Now()
		if !r.admit(now) {
			return
		}
		r.send(w, sc, &cursor, now)
	}
}

// openLoopWorker takes the next free slot of the schedule, waits for its
// time and sends. When every worker is busy, slots fall behind and their
// requests go late, and that lateness counts in their latency.
func (r *run) openLoopWorker(w int, sc *mcpclient.Scratch) {
	cursor := w
	period := r.period()
	timer := time.NewTimer(forever)
	defer timer.Stop()
	for {
		slot := r.nextSlot.Add(1) - 1
		intended := r.t0.Add(time.Duration(slot) * period)
		if !intended.Before(r.measureEnd) {
			return
		}
		if wait := time.Until(intended); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-r.stop:
				return
			}
		}
		if !r.admit(intended) {
			return
		}
		r.send(w, sc, &cursor, intended)
	}
}

func (r *run) period() time.Duration { return time.Duration(float64(time.Second) / r.cfg.Rate) }

// unsent counts the open-loop slots of the measured window, up to stopAt,
// whose requests were never sent.
func (r *run) unsent(stopAt time.Time) int64 {
	period := r.period()
	slotsBefore := func(t time.Time) int64 { // slots scheduled before t
		return int64((t.Sub(r.t0) + period - 1) / period)
	}
	due := slotsBefore(earlier(stopAt, r.measureEnd)) - slotsBefore(r.measureStart)
	if r.cfg.Requests > 0 {
		due = min(due, r.cfg.Requests)
	}
	return max(due-r.sent.Load(), 0)
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
