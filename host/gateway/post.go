package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/internal/mcpheader"
	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// post handles one POST from a Streamable HTTP client: a JSON-RPC message, or a batch of them.
func (g *Gateway) post(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal) {
	if g.refuseWhileDraining(ctx) || !versionHeaderOK(ctx) {
		return
	}
	// The call may outlive this handler (its response streams after the handler returns), and
	// fasthttp reuses the request buffer: keep a copy.
	frame := bytes.Clone(ctx.PostBody())
	var env jsonrpc.Envelope
	switch err := jsonrpc.Decode(frame, &env); {
	case errors.Is(err, jsonrpc.ErrBatch):
		g.batch(ctx, v, caller, frame)
		return
	case err != nil:
		rpcError(ctx, fasthttp.StatusBadRequest, errorID(frame, &env), decodeErrorCode(err), decodeErrorMessage(err))
		return
	}
	if err := mcpheader.Check(string(ctx.Request.Header.Peek("Mcp-Method")), string(ctx.Request.Header.Peek("Mcp-Name")), frame, &env); err != nil {
		// Policy follows the body; a request whose headers say otherwise is refused outright.
		rpcError(ctx, fasthttp.StatusBadRequest, errorID(frame, &env), mcpheader.CodeMismatch, err.Error())
		return
	}
	if env.Kind == jsonrpc.KindRequest && env.MethodIs("initialize") {
		g.initialize(ctx, v, caller, frame, &env)
		return
	}
	if isStateless(ctx) {
		if !g.cfg.StatelessClients {
			// The answer a stateful server gives: the client falls back to initialize.
			data, _ := json.Marshal(map[string]any{"supported": SupportedVersions, "requested": StatelessVersion})
			id := cmp.Or(string(errorID(frame, &env)), "null")
			ctx.SetStatusCode(fasthttp.StatusBadRequest)
			writeJSON(ctx, []byte(`{"jsonrpc":"2.0","id":`+id+`,"error":{"code":-32022,"message":"protocol version `+
				StatelessVersion+` is not enabled on this gateway","data":`+string(data)+`}}`))
			return
		}
		g.stateless(ctx, v, caller, frame, env)
		return
	}
	cs, ok := g.session(ctx, v, caller)
	if !ok {
		return
	}
	if env.Kind != jsonrpc.KindRequest {
		g.clientMessage(cs, frame, &env)
		ctx.SetStatusCode(fasthttp.StatusAccepted)
		return
	}
	if env.MethodIs("ping") {
		writeJSON(ctx, jsonrpc.AppendResult(nil, env.ID.In(frame), []byte("{}")))
		return
	}
	x := g.newExchange(1, false)
	g.calls.add()
	cancel := g.startCall(cs.ctx, cs, frame, env, x, string(ctx.Request.Header.Peek("traceparent")))
	// The POST counts as in flight until its response is handed to the client, so that shutdown
	// closes streams only after answers have gone out.
	x.respond(ctx, cancel, g.calls.done)
}

// refuseWhileDraining answers 503 once shutdown has started and reports whether it did.
func (g *Gateway) refuseWhileDraining(ctx *fasthttp.RequestCtx) bool {
	if !g.draining.Load() {
		return false
	}
	ctx.Response.Header.Set("Retry-After", "1")
	httpError(ctx, fasthttp.StatusServiceUnavailable, "gateway is shutting down")
	return true
}

// batch handles a JSON-RPC batch (2025-03-26). Its requests run concurrently; their responses go
// back together, as a JSON array or on one SSE stream.
func (g *Gateway) batch(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal, frame []byte) {
	cs, ok := g.session(ctx, v, caller)
	if !ok {
		return
	}
	if cs.version >= "2025-06-18" {
		rpcError(ctx, fasthttp.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not part of protocol "+cs.version)
		return
	}
	elems := jsonrpc.Elements(frame)
	if len(elems) == 0 {
		rpcError(ctx, fasthttp.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "empty batch")
		return
	}
	envs := make([]jsonrpc.Envelope, len(elems))
	answers := 0
	for i, el := range elems {
		err := jsonrpc.Decode(el.In(frame), &envs[i])
		if err != nil || envs[i].Kind == jsonrpc.KindRequest {
			answers++
		}
	}
	postCtx, cancelPost := context.WithCancel(cs.ctx)
	x := g.newExchange(answers, true)
	tp := string(ctx.Request.Header.Peek("traceparent"))
	for i, el := range elems {
		f, env := el.In(frame), envs[i]
		if err := jsonrpc.Decode(f, &env); err != nil {
			x.finish(jsonrpc.AppendError(nil, errorID(f, &env), decodeErrorCode(err), decodeErrorMessage(err)))
			continue
		}
		switch {
		case env.Kind != jsonrpc.KindRequest:
			g.clientMessage(cs, f, &env)
		case env.MethodIs("initialize"):
			x.finish(jsonrpc.AppendError(nil, env.ID.In(f), jsonrpc.CodeInvalidRequest, "initialize must not be part of a batch"))
		default:
			g.startCall(postCtx, cs, f, env, x, tp)
		}
	}
	if answers == 0 {
		cancelPost()
		ctx.SetStatusCode(fasthttp.StatusAccepted)
		return
	}
	g.calls.add()
	x.respond(ctx, cancelPost, func() { cancelPost(); g.calls.done() })
}

// startCall runs one client request on its own goroutine, counted in g.calls, delivering related
// messages and the response to x. The returned function cancels the call.
func (g *Gateway) startCall(parent context.Context, cs *clientSession, frame []byte, env jsonrpc.Envelope, x interface {
	sink
	finish([]byte)
}, traceparent string) context.CancelFunc {
	callCtx, cancel := context.WithCancel(parent)
	id := string(env.ID.In(frame))
	if cs.stateless {
		// Independent clients share a caller's stateless context, so their ids may collide; they
		// cancel by closing the response stream, not by id.
		id = "stateless/" + strconv.FormatInt(statelessSeq.Add(1), 10)
	}
	cs.mu.Lock()
	_, dup := cs.inflight[id]
	if !dup {
		cs.inflight[id] = cancel
	}
	cs.mu.Unlock()
	if dup {
		cancel()
		x.finish(jsonrpc.AppendError(nil, env.ID.In(frame), jsonrpc.CodeInvalidRequest, "a request with this id is already in flight"))
		return cancel
	}
	g.calls.add()
	go func() {
		defer g.calls.done()
		defer func() {
			cs.mu.Lock()
			delete(cs.inflight, id)
			cs.mu.Unlock()
			cancel()
		}()
		x.finish(g.dispatch(callCtx, cs, frame, &env, x, traceparent))
	}()
	return cancel
}

var statelessSeq atomic.Int64

// initialize opens a client session on the Streamable HTTP transport.
func (g *Gateway) initialize(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal, frame []byte, env *jsonrpc.Envelope) {
	if len(ctx.Request.Header.Peek("Mcp-Session-Id")) > 0 {
		rpcError(ctx, fasthttp.StatusBadRequest, env.ID.In(frame), jsonrpc.CodeInvalidRequest, "initialize must not carry a session id")
		return
	}
	if !g.roomForSession(ctx, env.ID.In(frame)) {
		return
	}
	cs := newClientSession(caller, v)
	resp := g.initResult(cs, frame, env)
	if cs.version == "" { // refused: nothing to keep
		cs.close()
		writeJSON(ctx, resp)
		return
	}
	cs.id = g.sealID(cs)
	g.mu.Lock()
	g.sessions[cs.id] = cs
	g.mu.Unlock()
	ctx.Response.Header.Set("Mcp-Session-Id", cs.id)
	writeJSON(ctx, resp)
}

// roomForSession refuses a new session when the gateway holds its maximum.
func (g *Gateway) roomForSession(ctx *fasthttp.RequestCtx, id []byte) bool {
	g.mu.RLock()
	full := len(g.sessions) >= g.cfg.MaxSessions
	g.mu.RUnlock()
	if full {
		ctx.Response.Header.Set("Retry-After", "5")
		rpcError(ctx, fasthttp.StatusServiceUnavailable, id, jsonrpc.CodeInternalError, "too many sessions")
	}
	return !full
}

// initResult answers an initialize request, recording the client's version, capabilities and
// identity in the session. The aggregate answers for itself; a single-server endpoint opens the
// upstream session at once and reports that server's capabilities and identity. On failure the
// session's version stays empty and the error response is returned.
func (g *Gateway) initResult(cs *clientSession, frame []byte, env *jsonrpc.Envelope) []byte {
	var p struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ClientInfo      json.RawMessage `json:"clientInfo"`
	}
	if json.Unmarshal(env.Params.In(frame), &p) != nil || p.ProtocolVersion == "" {
		return jsonrpc.AppendError(nil, env.ID.In(frame), jsonrpc.CodeInvalidParams, "initialize needs params with a protocolVersion")
	}
	version := SupportedVersions[0]
	if slices.Contains(SupportedVersions, p.ProtocolVersion) {
		version = p.ProtocolVersion
	}
	cs.caps, cs.info = p.Capabilities, p.ClientInfo
	caps, info, instructions, err := g.offer(cs)
	if err != nil {
		return jsonrpc.AppendError(nil, env.ID.In(frame), CodeUnavailable, err.Error())
	}
	result := map[string]any{"protocolVersion": version, "capabilities": caps, "serverInfo": info}
	if instructions != "" {
		result["instructions"] = instructions
	}
	body, _ := json.Marshal(result)
	cs.version = version
	return jsonrpc.AppendResult(nil, env.ID.In(frame), body)
}

// offer is what an endpoint says about itself: the gateway's own capabilities and identity on
// the aggregate; on a single-server endpoint, the server's, from the upstream session it opens.
func (g *Gateway) offer(cs *clientSession) (caps, info any, instructions string, err error) {
	if v := cs.view; !v.aggregate() {
		srv := g.pipeline.Load().Server(v.single)
		opened, cancel := context.WithTimeout(cs.ctx, srv.Config.ConnectTimeout.D())
		sess, err := g.upstreamSession(opened, cs, srv, nil)
		cancel()
		if err != nil {
			return nil, nil, "", fmt.Errorf("upstream %s unavailable: %w", srv.Name, err)
		}
		return sess.Init.Capabilities, sess.Init.ServerInfo, sess.Init.Instructions, nil
	}
	caps = map[string]any{
		"tools": map[string]any{"listChanged": true}, "prompts": map[string]any{"listChanged": true},
		"resources": map[string]any{"subscribe": true, "listChanged": true}, "logging": map[string]any{},
		"completions": map[string]any{},
	}
	info = map[string]any{"name": "portcullis", "version": Version}
	return caps, info, "Portcullis gateway: tools and prompts of every server appear as <server>" + g.cfg.NamespaceSeparator + "<name>.", nil
}

// versionHeaderOK refuses a request whose MCP-Protocol-Version header names a version the
// gateway does not speak. A request without the header is taken as 2025-03-26.
func versionHeaderOK(ctx *fasthttp.RequestCtx) bool {
	v := ctx.Request.Header.Peek("Mcp-Protocol-Version")
	if len(v) == 0 || slices.Contains(SupportedVersions, string(v)) || string(v) == StatelessVersion {
		return true
	}
	rpcError(ctx, fasthttp.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest,
		fmt.Sprintf("unsupported MCP-Protocol-Version %q; supported: %s", v, strings.Join(SupportedVersions, ", ")))
	return false
}

// errorID is the id to answer a frame that failed to decode with: its own when it had a readable
// one, else null.
func errorID(frame []byte, env *jsonrpc.Envelope) []byte {
	if env.ID.Present() {
		return env.ID.In(frame)
	}
	return nil
}

func decodeErrorCode(err error) int {
	if errors.Is(err, jsonrpc.ErrParse) {
		return jsonrpc.CodeParseError
	}
	return jsonrpc.CodeInvalidRequest
}

func decodeErrorMessage(err error) string {
	if errors.Is(err, jsonrpc.ErrParse) {
		return "parse error: the body is not valid JSON"
	}
	return err.Error()
}

// clientMessage handles a notification or a response from the client.
func (g *Gateway) clientMessage(cs *clientSession, frame []byte, env *jsonrpc.Envelope) {
	if env.Kind == jsonrpc.KindResponse {
		g.clientResponse(cs, frame, env)
	} else {
		g.clientNotification(cs, frame, env)
	}
}

// clientNotification handles notifications from the client.
func (g *Gateway) clientNotification(cs *clientSession, frame []byte, env *jsonrpc.Envelope) {
	switch string(env.Method) {
	case "notifications/cancelled":
		cs.mu.Lock()
		cancel := cs.inflight[string(env.RequestID.In(frame))]
		cs.mu.Unlock()
		if cancel != nil {
			cancel() // the upstream call sees its context end and cancels upstream
		}
	case "notifications/roots/list_changed":
		for _, sess := range cs.openUpstreams() {
			sess.Notify(cs.ctx, frame)
		}
	}
}

// clientResponse routes the client's answer to a server-to-client request back to that server.
func (g *Gateway) clientResponse(cs *clientSession, frame []byte, env *jsonrpc.Envelope) {
	p, ok := cs.takeServerRequest(env.ID.In(frame))
	if !ok {
		g.log.Debug("response to unknown request", "session", cs.id, "id", string(env.ID.In(frame)))
		return
	}
	out := jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: env.ID, With: p.id})
	if err := p.sess.Notify(cs.ctx, out); err != nil {
		g.log.Warn("relaying response to server", "server", p.sess.Server, "err", err)
	}
}

// upstreamsStream reports whether the servers the session has open answer on SSE streams.
func (cs *clientSession) upstreamsStream() bool {
	open := cs.openUpstreams()
	for _, s := range open {
		if !s.Streams() {
			return false
		}
	}
	return len(open) > 0
}

// openUpstreams lists the upstream sessions the client session has open.
func (cs *clientSession) openUpstreams() []*upstream.Session {
	cs.mu.Lock()
	slots := make([]*upSlot, 0, len(cs.upstreams))
	for _, s := range cs.upstreams {
		slots = append(slots, s)
	}
	cs.mu.Unlock()
	var out []*upstream.Session
	for _, s := range slots {
		s.mu.Lock()
		if s.sess != nil && s.sess.Alive() {
			out = append(out, s.sess)
		}
		s.mu.Unlock()
	}
	return out
}

func writeJSON(ctx *fasthttp.RequestCtx, body []byte) {
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

func rpcError(ctx *fasthttp.RequestCtx, status int, id []byte, code int, msg string) {
	ctx.SetStatusCode(status)
	writeJSON(ctx, jsonrpc.AppendError(nil, id, code, msg))
}
