package gateway

import (
	"bufio"
	"bytes"
	"errors"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/internal/sse"
	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
)

// The 2024-11-05 HTTP+SSE transport: a client GETs /sse (or /sse/{server}), which opens its
// session and announces where to POST; every answer, and everything servers send, comes back on
// that one stream. The session lives as long as the stream.

// legacyStream opens a session and its stream.
func (g *Gateway) legacyStream(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal) {
	if g.refuseWhileDraining(ctx) || !g.roomForSession(ctx, nil) {
		return
	}
	cs := newClientSession(caller, v)
	cs.legacy = true
	cs.out.attach()
	g.mu.Lock()
	g.sessions[cs.id] = cs
	g.mu.Unlock()
	endpoint := sse.AppendEvent(nil, "endpoint", "", []byte(string(ctx.Path())+"?sessionId="+cs.id))
	startSSE(ctx)
	g.streams.add()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer g.streams.done()
		defer g.endSession(cs)
		g.pump(w, cs, endpoint, nil, nil)
	})
}

// legacySink sends a call's related messages and its response on the session's stream.
type legacySink struct{ cs *clientSession }

func (s legacySink) push(frame []byte)   { s.cs.out.push(frame) }
func (s legacySink) finish(frame []byte) { s.cs.out.push(frame) }

// legacyPost takes one message for a session; the answer goes on the session's stream.
func (g *Gateway) legacyPost(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal) {
	id := ctx.QueryArgs().Peek("sessionId")
	if len(id) == 0 {
		httpError(ctx, fasthttp.StatusBadRequest, "missing sessionId: GET the SSE stream first")
		return
	}
	cs, ok := g.findSession(ctx, v, caller, id, true)
	if !ok {
		return
	}
	frame := bytes.Clone(ctx.PostBody())
	var env jsonrpc.Envelope
	switch err := jsonrpc.Decode(frame, &env); {
	case errors.Is(err, jsonrpc.ErrBatch):
		rpcError(ctx, fasthttp.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not supported on the HTTP+SSE transport")
		return
	case err != nil:
		rpcError(ctx, fasthttp.StatusBadRequest, errorID(frame, &env), decodeErrorCode(err), decodeErrorMessage(err))
		return
	}
	switch {
	case env.Kind != jsonrpc.KindRequest:
		g.clientMessage(cs, frame, &env)
	case env.MethodIs("initialize"):
		cs.out.push(g.initResult(cs, frame, &env))
	case env.MethodIs("ping"):
		cs.out.push(jsonrpc.AppendResult(nil, env.ID.In(frame), []byte("{}")))
	default:
		g.startCall(cs.ctx, cs, frame, env, legacySink{cs}, string(ctx.Request.Header.Peek("traceparent")))
	}
	ctx.SetStatusCode(fasthttp.StatusAccepted)
}
