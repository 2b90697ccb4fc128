// Package upstream connects the gateway to MCP servers. A Transport moves raw JSON-RPC frames to
// and from one server over stdio, Streamable HTTP or the 2024-11-05 HTTP+SSE transport; a Session
// runs the MCP handshake over a transport and matches responses to calls; a Server holds a
// server's replicas, picks one per its strategy and tracks their health.
package upstream

import (
	"context"
	"errors"
	"fmt"
)

// Inbox receives what a transport reads from its server.
type Inbox interface {
	// Receive takes one frame. related is the upstream request id whose HTTP response stream
	// carried it, or 0 when the transport cannot tell (stdio, the standalone GET stream, legacy
	// SSE). streamed says the frame came on an SSE stream rather than as a JSON body. The frame is
	// only valid during the call.
	Receive(frame []byte, related int64, streamed bool)
	// Fail ends the request with upstream id id: its frame was sent, but its answer will not come.
	Fail(id int64, err error)
}

// Transport moves frames to one server. Implementations are safe for concurrent use.
type Transport interface {
	// Send writes one frame. id is the upstream request id when the frame is a request, else 0.
	// It returns ErrUnavailable (wrapped) when the frame certainly did not reach the server.
	Send(ctx context.Context, frame []byte, id int64) error
	// Done is closed when the transport can carry no more frames.
	Done() <-chan struct{}
	// Err says why Done was closed.
	Err() error
	// Close releases the transport; a stdio process is stopped.
	Close() error
}

// versioned is implemented by transports that send the negotiated protocol version with each
// request (Streamable HTTP).
type versioned interface{ setProtocolVersion(string) }

// sessionStarter is implemented by transports that open a standalone stream once the session is
// initialized (the Streamable HTTP GET stream). startSession returns when the stream is open or
// refused, or when ctx ends.
type sessionStarter interface{ startSession(ctx context.Context) }

var (
	// ErrUnavailable means the server could not be reached: the frame had no effect, so the call
	// may be retried on another replica.
	ErrUnavailable = errors.New("unavailable")
	// ErrClosed means the transport died after the frame was sent.
	ErrClosed = errors.New("connection closed")
	// ErrProtocol means the server answered something that is not MCP.
	ErrProtocol = errors.New("protocol error")
)

func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnavailable, fmt.Sprintf(format, args...))
}

// closer records why a transport ended, once.
type closer struct {
	done chan struct{}
	err  error
}

func newCloser() closer { return closer{done: make(chan struct{})} }

func (c *closer) Done() <-chan struct{} { return c.done }

// Err returns the reason the transport closed; only meaningful after Done is closed.
func (c *closer) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// finish must be called at most once, from the goroutine that owns the transport's lifetime.
func (c *closer) finish(err error) {
	c.err = err
	close(c.done)
}
