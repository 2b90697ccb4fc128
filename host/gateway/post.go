package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// post handles one JSON-RPC message from a client.
func (g *Gateway) post(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal) {
	if g.draining.Load() {
		ctx.Response.Header.Set("Retry-After", "1")
		httpError(ctx, fasthttp.StatusServiceUnavailable, "gateway is shutting down")
		return
	}
	// The call may outlive this handler (its response streams after the handler returns), and
	// fasthttp reuses the request buffer: keep a copy.
	frame := bytes.Clone(ctx.PostBody())
	var env jsonrpc.Envelope
	switch err := jsonrpc.Decode(frame, &env); {
	case errors.Is(err, jsonrpc.ErrParse):
		rpcError(ctx, fasthttp.StatusBadRequest, nil, jsonrpc.CodeParseError, "parse error: the body is not valid JSON")
		return
	case errors.Is(err, jsonrpc.ErrBatch):
		rpcError(ctx, fasthttp.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not supported on this endpoint")
		return
	case err != nil:
		var id []byte
		if env.ID.Present() {
			id = env.ID.In(frame)
		}
		rpcError(ctx, fasthttp.StatusBadRequest, id, jsonrpc.CodeInvalidRequest, err.Error())
		return
	}
	if env.Kind == jsonrpc.KindRequest && env.MethodIs("initialize") {
		g.initialize(ctx, v, caller, frame, &env)
		return
	}
	cs, ok := g.session(ctx, v, caller)
	if !ok {
		return
	}
	switch env.Kind {
	case jsonrpc.KindNotification:
		g.clientNotification(cs, frame, &env)
		ctx.SetStatusCode(fasthttp.StatusAccepted)
	case jsonrpc.KindResponse:
		g.clientResponse(cs, frame, &env)
		ctx.SetStatusCode(fasthttp.StatusAccepted)
	case jsonrpc.KindRequest:
		g.request(ctx, cs, frame, env)
	}
}

// initialize opens a client session. The aggregate answers for itself; a single-server endpoint
// opens the upstream session at once and reports that server's capabilities and identity.
func (g *Gateway) initialize(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal, frame []byte, env *jsonrpc.Envelope) {
	if len(ctx.Request.Header.Peek("Mcp-Session-Id")) > 0 {
		rpcError(ctx, fasthttp.StatusBadRequest, env.ID.In(frame), jsonrpc.CodeInvalidRequest, "initialize must not carry a session id")
		return
	}
	var p struct {
		ProtocolVersion string          `json:"protocolVersion"`
		Capabilities    json.RawMessage `json:"capabilities"`
		ClientInfo      json.RawMessage `json:"clientInfo"`
	}
	if json.Unmarshal(env.Params.In(frame), &p) != nil || p.ProtocolVersion == "" {
		rpcError(ctx, fasthttp.StatusOK, env.ID.In(frame), jsonrpc.CodeInvalidParams, "initialize needs params with a protocolVersion")
		return
	}
	version := SupportedVersions[0]
	if slices.Contains(SupportedVersions, p.ProtocolVersion) {
		version = p.ProtocolVersion
	}
	g.mu.RLock()
	full := len(g.sessions) >= g.cfg.MaxSessions
	g.mu.RUnlock()
	if full {
		ctx.Response.Header.Set("Retry-After", "5")
		rpcError(ctx, fasthttp.StatusServiceUnavailable, env.ID.In(frame), jsonrpc.CodeInternalError, "too many sessions")
		return
	}
	cs := newClientSession(caller, v, version, p.Capabilities, p.ClientInfo)
	result := map[string]any{
		"protocolVersion": version,
		"capabilities": map[string]any{
			"tools": map[string]any{"listChanged": true}, "prompts": map[string]any{"listChanged": true},
			"resources": map[string]any{"subscribe": true, "listChanged": true}, "logging": map[string]any{},
			"completions": map[string]any{},
		},
		"serverInfo":   map[string]any{"name": "portcullis", "version": Version},
		"instructions": "Portcullis gateway: tools and prompts of every server appear as <server>" + g.cfg.NamespaceSeparator + "<name>.",
	}
	if !v.aggregate() {
		srv := g.pipeline.Load().Server(v.single)
		opened, cancel := context.WithTimeout(cs.ctx, srv.Config.ConnectTimeout.D())
		sess, err := g.upstreamSession(opened, cs, srv, nil)
		cancel()
		if err != nil {
			cs.close()
			rpcError(ctx, fasthttp.StatusOK, env.ID.In(frame), CodeUnavailable, "upstream "+srv.Name+" unavailable: "+err.Error())
			return
		}
		result["capabilities"] = sess.Init.Capabilities
		result["serverInfo"] = sess.Init.ServerInfo
		delete(result, "instructions")
		if sess.Init.Instructions != "" {
			result["instructions"] = sess.Init.Instructions
		}
	}
	body, _ := json.Marshal(result)
	g.mu.Lock()
	g.sessions[cs.id] = cs
	g.mu.Unlock()
	ctx.Response.Header.Set("Mcp-Session-Id", cs.id)
	writeJSON(ctx, jsonrpc.AppendResult(nil, env.ID.In(frame), body))
}

// request runs a client request. The call runs on its own goroutine so that the handler can
// answer with plain JSON when only the result comes back, or switch to an SSE stream as soon as
// the server sends anything first (progress, logging, a request to the client).
func (g *Gateway) request(ctx *fasthttp.RequestCtx, cs *clientSession, frame []byte, env jsonrpc.Envelope) {
	if env.MethodIs("ping") {
		writeJSON(ctx, jsonrpc.AppendResult(nil, env.ID.In(frame), []byte("{}")))
		return
	}
	x := newExchange()
	callCtx, cancel := context.WithCancel(cs.ctx)
	id := string(env.ID.In(frame))
	cs.mu.Lock()
	if _, dup := cs.inflight[id]; dup {
		cs.mu.Unlock()
		cancel()
		rpcError(ctx, fasthttp.StatusOK, env.ID.In(frame), jsonrpc.CodeInvalidRequest, "a request with this id is already in flight")
		return
	}
	cs.inflight[id] = cancel
	cs.mu.Unlock()
	tp := string(ctx.Request.Header.Peek("traceparent"))
	g.calls.add()
	go func() {
		defer func() {
			cs.mu.Lock()
			delete(cs.inflight, id)
			cs.mu.Unlock()
			cancel()
		}()
		x.finish(g.dispatch(callCtx, cs, frame, &env, x, tp))
	}()
	// The call counts as in flight until its response is handed to the client, so that shutdown
	// closes streams only after answers have gone out.
	x.respond(ctx, cancel, g.calls.done)
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
