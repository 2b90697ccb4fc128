package plugin

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	extism "github.com/extism/go-sdk"
	"github.com/tetratelabs/wazero"

	"github.com/portcullis-mcp/portcullis/abi"
)

// Plugin is one loaded plugin version: a wazero runtime, its compiled
// module and a bounded pool of instances. It is safe for concurrent use;
// each call takes an instance of its own.
type Plugin struct {
	engine *Engine
	spec   Spec
	id     string
	format Format
	hooks  uint32 // abi.Hook bits the spec declares

	rt       wazero.Runtime         // native
	compiled wazero.CompiledModule  // native
	extism   *extism.CompiledPlugin // extism
	closer   interface{ Close(context.Context) error }

	pool    pool
	breaker breaker
	closed  atomic.Bool

	errBreaker, errClosed error // prebuilt so refusing a call allocates nothing

	calls, failures, timeouts, traps atomic.Uint64
}

func newPlugin(e *Engine, s Spec, f Format) *Plugin {
	p := &Plugin{engine: e, spec: s, id: s.ID(), format: f}
	for _, h := range s.Hooks {
		p.hooks |= h.Bit()
	}
	p.pool.init(p)
	p.breaker.cfg = s.Breaker
	p.errBreaker = fmt.Errorf("plugin %s: %w", p.id, ErrBreakerOpen)
	p.errClosed = fmt.Errorf("plugin %s: %w", p.id, ErrClosed)
	return p
}

// ID returns "name@version", the identity audit records carry.
func (p *Plugin) ID() string { return p.id }

// Format returns the plugin's ABI.
func (p *Plugin) Format() Format { return p.format }

// Spec returns the spec the plugin was loaded with, defaults applied.
func (p *Plugin) Spec() Spec { return p.spec }

// Implements reports whether the plugin's spec declares hook h.
func (p *Plugin) Implements(h abi.Hook) bool { return h.Valid() && p.hooks&h.Bit() != 0 }

// Stats are a plugin's counters since it was loaded.
type Stats struct {
	Calls       uint64 // hook calls that reached an instance
	Failures    uint64 // calls that returned an error (includes the next two)
	Timeouts    uint64 // calls stopped at their deadline
	Traps       uint64 // calls that trapped
	Replaced    uint64 // instances thrown away and replaced
	Instances   int    // live instances now
	BreakerOpen bool   // calls are being refused
}

// Stats returns the plugin's counters. It is safe for concurrent use.
func (p *Plugin) Stats() Stats {
	live, replaced := p.pool.stats()
	return Stats{
		Calls: p.calls.Load(), Failures: p.failures.Load(),
		Timeouts: p.timeouts.Load(), Traps: p.traps.Load(),
		Replaced: replaced, Instances: live,
		BreakerOpen: p.breaker.isOpen(time.Now()),
	}
}

// Call runs hook in.Hook on an instance and stores the verdict in out,
// copying its payload into out.Payload's capacity (so a reused Verdict
// makes the call allocation-free). The call is bounded by timeout (the
// spec's Timeout when zero) and by ctx's deadline if that is earlier;
// a canceled ctx stops the wait for an instance but not a running guest.
//
// The returned error wraps one of the package's Err values, which all mean
// that the plugin failed and the binding's failure policy applies. An
// instance that timed out or trapped is replaced. Call is safe for
// concurrent use.
func (p *Plugin) Call(ctx context.Context, in *abi.Input, timeout time.Duration, out *abi.Verdict) error {
	if !p.Implements(in.Hook) {
		return fmt.Errorf("plugin %s: %s: %w", p.id, in.Hook, ErrHookNotDeclared)
	}
	if p.closed.Load() {
		return p.errClosed
	}
	now := time.Now()
	if !p.breaker.allow(now) {
		return p.errBreaker
	}
	if timeout <= 0 {
		timeout = p.spec.Timeout
	}
	deadline := now.Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	inst, err := p.pool.get(ctx, deadline)
	if err != nil {
		return fmt.Errorf("plugin %s: %s: %w", p.id, in.Hook, err)
	}
	p.calls.Add(1)
	raw, err := inst.call(in, deadline)
	if err == nil {
		err = decodeVerdict(in, raw, out)
	}
	p.pool.put(inst, err != nil && replaces(err))
	if err != nil {
		p.failures.Add(1)
		switch {
		case errors.Is(err, ErrTimeout):
			p.timeouts.Add(1)
		case errors.Is(err, ErrTrap):
			p.traps.Add(1)
		}
		p.breaker.failure(time.Now())
		return fmt.Errorf("plugin %s: %s: %w", p.id, in.Hook, err)
	}
	p.breaker.success()
	return nil
}

// decodeVerdict checks the raw verdict against the ABI and the hook, and
// copies it into out. raw may be guest memory: it is not kept.
func decodeVerdict(in *abi.Input, raw []byte, out *abi.Verdict) error {
	var v abi.Verdict
	if err := abi.DecodeVerdict(raw, &v); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedVerdict, err)
	}
	if !in.Hook.Allows(v.Action) {
		return fmt.Errorf("%w: action %s is not allowed for hook %s", ErrMalformedVerdict, v.Action, in.Hook)
	}
	if v.Action == abi.ActionRoute && uint64(v.Replica) >= uint64(len(in.Replicas)) {
		return fmt.Errorf("%w: replica %d of %d", ErrMalformedVerdict, v.Replica, len(in.Replicas))
	}
	if v.Action == abi.ActionRewrite {
		if err := checkRewrite(in.Frame, v.Payload); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidRewrite, err)
		}
	}
	out.Action, out.Code, out.Replica = v.Action, v.Code, v.Replica
	out.Payload = append(out.Payload[:0], v.Payload...)
	return nil
}

// Close stops new calls, waits until in-flight calls have returned their
// instances (or ctx ends), and releases the runtime. Call it once the
// pipeline snapshot that used the plugin has drained.
func (p *Plugin) Close(ctx context.Context) error {
	if !p.closed.CompareAndSwap(false, true) {
		return nil
	}
	drainErr := p.pool.close(ctx)
	if err := p.closer.Close(ctx); err != nil {
		return fmt.Errorf("plugin %s: close runtime: %w", p.id, err)
	}
	if drainErr != nil {
		return fmt.Errorf("plugin %s: close: %w", p.id, drainErr)
	}
	return nil
}
