// Package pipeline holds what a request sees from start to end: the servers and the guards bound
// to them, as one immutable Snapshot. A change builds a new snapshot and swaps it in atomically;
// requests in flight finish on the snapshot they started with, and the old snapshot is retired
// (its Drained hook runs) once the last of them has released it.
package pipeline

import (
	"context"
	"sync/atomic"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// Call describes the request a guard inspects.
type Call struct {
	Principal identity.Principal
	Method    string
	Server    string
	Name      string   // tool or prompt name (as the server knows it), or resource URI
	Plugins   []string // the plugin versions that saw the request, for its record
}

// Tool is the tool the call runs, or "" when it runs none.
func (c *Call) Tool() string {
	if c.Method == "tools/call" {
		return c.Name
	}
	return ""
}

// Guards inspect frames on their way to and from a server. Each method returns the frame to pass
// on (the same slice when unchanged, or a rewrite) or an error that blocks it; a *Blocked error
// carries the JSON-RPC code and reason the client gets. Implementations are safe for concurrent
// use.
type Guards interface {
	// Request sees a client's request before it is routed.
	Request(ctx context.Context, c *Call, frame []byte) ([]byte, error)
	// Response sees every frame a server sends back for a call: notifications, requests to the
	// client, and the response.
	Response(ctx context.Context, c *Call, frame []byte) ([]byte, error)
	// Tools sees a server's tools/list result and may remove or rewrite tools.
	Tools(ctx context.Context, c *Call, frame []byte) ([]byte, error)
}

// Router is implemented by Guards that may choose among a server's replicas (routing plugins).
// Pick returns the replica's index, or builtin's choice when no plugin chooses.
type Router interface {
	Pick(server string, builtin upstream.Strategy, up []*upstream.Replica) int
}

// Auditor is implemented by Guards that hand finished records to audit sinks.
type Auditor interface {
	Audit(ctx context.Context, record []byte)
}

// Blocked is the error of a guard that stops a frame.
type Blocked struct {
	Code   int
	Reason string
	By     string // the binding that blocked
}

func (b *Blocked) Error() string { return b.Reason }

// Snapshot is one immutable configuration of the request path. A request that uses its Guards
// holds it with Holder.Acquire and Release, so that a swap never closes guards under it.
type Snapshot struct {
	Version uint64
	Servers map[string]*upstream.Server
	Order   []string // server names in configuration order
	Guards  Guards   // nil when no guard is bound
	// Drained runs once, in its own goroutine, when the snapshot has been replaced and every
	// request that acquired it has released it: the place to close what only it used.
	Drained func()

	refs atomic.Int64 // the holder's reference while current, plus one per acquiring request
	done chan struct{}
}

// Server returns the named server, or nil.
func (s *Snapshot) Server(name string) *upstream.Server { return s.Servers[name] }

// Release gives back a snapshot taken with Holder.Acquire.
func (s *Snapshot) Release() {
	if s.refs.Add(-1) == 0 {
		go func() { // not on the request's goroutine: closing plugins may wait
			if s.Drained != nil {
				s.Drained()
			}
			close(s.done)
		}()
	}
}

// Done is closed once the snapshot has been replaced, drained, and its Drained hook has returned.
func (s *Snapshot) Done() <-chan struct{} { return s.done }

// Holder publishes the current snapshot. The zero value holds nothing.
type Holder struct{ p atomic.Pointer[Snapshot] }

// Load returns the current snapshot, for what outlives a swap (its servers). Use Acquire to run
// its guards.
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Acquire returns the current snapshot, held until Release. It costs one atomic
// compare-and-swap. A snapshot swapped out in between is still valid until released: requests
// that started on it finish on it.
func (h *Holder) Acquire() *Snapshot {
	for {
		s := h.p.Load()
		for n := s.refs.Load(); n > 0; n = s.refs.Load() {
			if s.refs.CompareAndSwap(n, n+1) {
				return s
			}
		}
		// s drained between Load and the increment: a newer one is current by now.
	}
}

// Swap installs s and returns the snapshot it replaces (nil the first time), which drains and
// retires once its last request releases it. s must be new: a snapshot is installed once.
func (h *Holder) Swap(s *Snapshot) *Snapshot {
	s.done = make(chan struct{})
	s.refs.Store(1)
	old := h.p.Swap(s)
	if old != nil {
		old.Release()
	}
	return old
}
