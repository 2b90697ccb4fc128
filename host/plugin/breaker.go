package plugin

import (
	"sync/atomic"
	"time"
)

// BreakerConfig tunes a plugin's circuit breaker: after Failures failed
// calls in a row the plugin is skipped (ErrBreakerOpen, so the failure
// policy applies without running the guest) for Backoff; then one call
// probes it. A failed probe doubles the backoff up to MaxBackoff; a
// success closes the breaker.
type BreakerConfig struct {
	Failures   int           // default 5
	Backoff    time.Duration // default 500ms
	MaxBackoff time.Duration // default 30s
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.Failures <= 0 {
		c.Failures = 5
	}
	if c.Backoff <= 0 {
		c.Backoff = 500 * time.Millisecond
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(30*time.Second, c.Backoff)
	}
	return c
}

// breaker is lock-free; under concurrency it is approximate (two calls may
// both fail past the threshold), which only shortens or lengthens a
// backoff by one step.
type breaker struct {
	cfg       BreakerConfig
	failures  atomic.Int64 // consecutive
	openUntil atomic.Int64 // Unix nanoseconds; 0 when closed
	backoff   atomic.Int64 // current backoff, nanoseconds
	probing   atomic.Bool
}

// allow reports whether a call may run now.
func (b *breaker) allow(now time.Time) bool {
	until := b.openUntil.Load()
	if until == 0 {
		return true
	}
	if now.UnixNano() < until {
		return false
	}
	return b.probing.CompareAndSwap(false, true)
}

func (b *breaker) success() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
		b.probing.Store(false)
	}
}

func (b *breaker) failure(now time.Time) {
	n := b.failures.Add(1)
	if b.openUntil.Load() != 0 {
		d := min(2*b.backoff.Load(), int64(b.cfg.MaxBackoff))
		b.backoff.Store(d)
		b.openUntil.Store(now.UnixNano() + d)
		b.probing.Store(false)
		return
	}
	if n >= int64(b.cfg.Failures) {
		b.backoff.Store(int64(b.cfg.Backoff))
		b.openUntil.Store(now.UnixNano() + int64(b.cfg.Backoff))
	}
}

func (b *breaker) isOpen(now time.Time) bool {
	until := b.openUntil.Load()
	return until != 0 && now.UnixNano() < until
}
