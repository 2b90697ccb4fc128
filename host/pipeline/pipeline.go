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
	Name      string // tool or prompt name (as the server knows it), or resource URI
}

// Guards inspect frames on their way to and from a server. Each method returns the frame to pass
// on (the same, or rewritten) or an error that blocks it; the error's text reaches the client.
type Guards interface {
	Request(ctx context.Context, c *Call, frame []byte) ([]byte, error)
	Response(ctx context.Context, c *Call, frame []byte) ([]byte, error)
}

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
