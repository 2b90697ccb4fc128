package plugin

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
)

// instance is one instantiated guest. It is used by one call at a time.
type instance interface {
	// call runs in.Hook and returns the raw verdict, valid until the next
	// call on the instance. Errors are the package's Err values.
	call(in *abi.Input, deadline time.Time) ([]byte, error)
	close()
}

// pool is a bounded set of instances of one plugin. Idle instances wait in
// a channel (not a sync.Pool, which would drop wazero instances without
// closing them); at most cap(idle) instances live at once. An instance that
// trapped or timed out is closed and a replacement is built in the
// background, off the request path.
type pool struct {
	create   func(ctx context.Context) (instance, error)
	idle     chan instance
	gone     chan struct{} // pulsed when an instance is dropped, for close
	bg       sync.WaitGroup
	replaced atomic.Uint64

	mu     sync.Mutex
	live   int
	closed bool
}

func (pl *pool) init(p *Plugin) {
	pl.idle = make(chan instance, p.spec.Instances)
	pl.gone = make(chan struct{}, 1)
}

// start creates the first instance, proving that the module instantiates.
func (pl *pool) start(ctx context.Context) error {
	inst, err := pl.create(ctx)
	if err != nil {
		return err
	}
	pl.live = 1
	pl.idle <- inst
	return nil
}

// get returns an idle instance, creates one if the pool is below its bound,
// or waits for one until deadline.
func (pl *pool) get(ctx context.Context, deadline time.Time) (instance, error) {
	select {
	case inst := <-pl.idle:
		return inst, nil
	default:
	}
	pl.mu.Lock()
	if pl.closed {
		pl.mu.Unlock()
		return nil, ErrClosed
	}
	if pl.live < cap(pl.idle) {
		pl.live++
		pl.mu.Unlock()
		inst, err := pl.create(context.Background())
		if err != nil {
			pl.drop()
			return nil, fmt.Errorf("new instance: %w", err)
		}
		return inst, nil
	}
	pl.mu.Unlock()
	wait := time.Until(deadline)
	if wait <= 0 {
		return nil, ErrBusy
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case inst := <-pl.idle:
		return inst, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for an instance: %w", ctx.Err())
	}
}

// put returns inst to the pool, or closes and replaces it when discard.
func (pl *pool) put(inst instance, discard bool) {
	if !discard {
		pl.idle <- inst // never blocks: live <= cap(idle)
		return
	}
	inst.close()
	pl.replaced.Add(1)
	pl.mu.Lock()
	if pl.closed {
		pl.live--
		pl.mu.Unlock()
		pl.pulse()
		return
	}
	pl.bg.Add(1)
	pl.mu.Unlock()
	go pl.replace()
}

// replace builds an instance in place of a discarded one.
func (pl *pool) replace() {
	defer pl.bg.Done()
	inst, err := pl.create(context.Background())
	if err != nil {
		pl.drop()
		return
	}
	pl.idle <- inst
}

// drop forgets an instance that was counted but never made it to idle.
func (pl *pool) drop() {
	pl.mu.Lock()
	pl.live--
	pl.mu.Unlock()
	pl.pulse()
}

func (pl *pool) pulse() {
	select {
	case pl.gone <- struct{}{}:
	default:
	}
}

func (pl *pool) stats() (live int, replaced uint64) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.live, pl.replaced.Load()
}

// close refuses new instances, waits for replacements in progress, then
// closes instances as they become idle until none is left or ctx ends.
func (pl *pool) close(ctx context.Context) error {
	pl.mu.Lock()
	pl.closed = true
	pl.mu.Unlock()
	pl.bg.Wait()
	for {
		pl.mu.Lock()
		live := pl.live
		pl.mu.Unlock()
		if live <= 0 {
			return nil
		}
		select {
		case inst := <-pl.idle:
			inst.close()
			pl.mu.Lock()
			pl.live--
			pl.mu.Unlock()
		case <-pl.gone:
		case <-ctx.Done():
			return fmt.Errorf("%d instances still in use: %w", live, ctx.Err())
		}
	}
}
