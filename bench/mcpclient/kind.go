package mcpclient

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Kind says how a request ended. Every failure falls into exactly one kind so
// that a report can count them side by side.
type Kind uint8

const (
	OK           Kind = iota
	ConnRefused       // nothing listens at the address
	Timeout           // no complete answer before the deadline
	HTTPStatus        // the server answered with a non-2xx status
	RPCError          // a JSON-RPC error object came back
	Garbage           // the bytes were not a valid HTTP/JSON-RPC/SSE answer
	StreamClosed      // the connection or event stream ended before the answer
	Network           // any other transport failure
	NumKinds
)

var kindNames = [NumKinds]string{"ok", "connect_refused", "timeout", "http_status", "jsonrpc_error", "garbage", "stream_closed", "network"}

// String returns the snake_case name used in reports.
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Outcome is the result of one request.
type Outcome struct {
	Kind Kind
	// Code is the HTTP status for HTTPStatus and the JSON-RPC error code for
	// RPCError.
	Code int
	// Err describes a failure; nil when Kind is OK.
	Err error
}

func fail(k Kind, err error) Outcome { return Outcome{Kind: k, Err: err} }

// classify turns a transport error into an Outcome. Protocol parse errors
// from fasthttp carry no type of their own, so whatever is not a recognised
// network condition counts as garbage.
func classify(err error) Outcome {
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(ConnRefused, err)
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, fasthttp.ErrDialTimeout),
		errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fail(Timeout, err)
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed),
		errors.Is(err, io.ErrClosedPipe):
		return fail(StreamClosed, err)
	case errors.As(err, &opErr), errors.Is(err, fasthttp.ErrNoFreeConns):
		return fail(Network, err)
	default:
		return fail(Garbage, err)
	}
}
