// Package pipeline holds what a request sees from start to end: the servers and the guards bound
// to them, as one immutable Snapshot. A change builds a new snapshot and swaps it in atomically;
// requests in flight finish on the snapshot they started with.
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

// Blocked is the error of a guard that stops a frame.
type Blocked struct {
	Code   int
	Reason string
	By     string // the binding that blocked
}

func (b *Blocked) Error() string { return b.Reason }

// Snapshot is one immutable configuration of the request path.
type Snapshot struct {
	Version uint64
	Servers map[string]*upstream.Server
	Order   []string // server names in configuration order
	Guards  Guards   // nil when no guard is bound
}

// Server returns the named server, or nil.
func (s *Snapshot) Server(name string) *upstream.Server { return s.Servers[name] }

// Holder publishes the current snapshot. The zero value holds nothing.
type Holder struct{ p atomic.Pointer[Snapshot] }

// Load returns the current snapshot.
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Swap installs s and returns the snapshot it replaces.
func (h *Holder) Swap(s *Snapshot) *Snapshot { return h.p.Swap(s) }
