package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
	"github.com/portcullis-mcp/portcullis/host/pipeline"
	"github.com/portcullis-mcp/portcullis/host/record"
	"github.com/portcullis-mcp/portcullis/host/telemetry"
	"github.com/portcullis-mcp/portcullis/host/upstream"

	"go.opentelemetry.io/otel/codes"
)

// JSON-RPC error codes of the gateway's own.
const (
	CodeTimeout          = -32001 // the upstream did not answer in time
	CodeResourceNotFound = -32002 // as MCP defines it
	CodeUnavailable      = -32010 // no replica of the upstream could be reached
	CodeUpstreamProtocol = upstream.CodeUpstreamProtocol
	CodeBlocked          = -32030 // a guard blocked the message
	CodeCancelled        = -32800 // the client cancelled the request
)

// outcome is what a request did, for its trace span and record.
type outcome struct {
	server, name string
	retries      int
	replica      string
	code         int    // the gateway's error, which replaces the response
	err          string // its message
	upstreamCode int    // an error the server returned, passed on as it is
	plugins      []string
}

func (o *outcome) fail(code int, format string, args ...any) {
	o.code, o.err = code, fmt.Sprintf(format, args...)
}

// block records a guard's refusal, with the guard's code when it gave one.
func (o *outcome) block(err error) {
	var b *pipeline.Blocked
	if errors.As(err, &b) && b.Code != 0 {
		o.fail(b.Code, "blocked by %s: %s", b.By, b.Reason)
		return
	}
	o.fail(CodeBlocked, "blocked: %v", err)
}

// dispatch runs one client request and returns the response frame, with the client's id.
func (g *Gateway) dispatch(ctx context.Context, cs *clientSession, frame []byte, env *jsonrpc.Envelope, x sink, traceparent string) []byte {
	start := time.Now()
	meta, _ := jsonrpc.Unquote(env.TraceParent.In(frame))
	ctx, span := telemetry.Start(ctx, string(env.Method), traceparent, string(meta))
	var o outcome
	resp := g.route(ctx, cs, frame, env, x, &o)
	if o.code != 0 {
		resp = jsonrpc.AppendError(nil, env.ID.In(frame), o.code, o.err)
		span.SetStatus(codes.Error, o.err)
	}
	sc := span.SpanContext()
	if span.IsRecording() {
		span.SetAttributes(telemetry.MethodName.String(string(env.Method)), telemetry.SessionID.String(cs.id),
			telemetry.RequestID.String(string(env.ID.In(frame))), telemetry.Server.String(o.server), telemetry.Agent.String(cs.caller.Agent))
		if env.MethodIs("tools/call") {
			span.SetAttributes(telemetry.ToolName.String(o.name))
		}
		span.End()
	}
	if g.records != nil {
		r := record.Record{Time: start, Session: cs.id, Agent: cs.caller.Agent, Team: cs.caller.Team, Method: methodName(env),
			Server: o.server, Name: o.name, RequestID: string(env.ID.In(frame)), Latency: time.Since(start), Retries: o.retries,
			Replica: o.replica, Error: o.err, ErrorCode: cmp.Or(o.code, o.upstreamCode), Plugins: o.plugins, InBytes: len(frame), OutBytes: len(resp)}
		if sc.HasTraceID() {
			r.TraceID = sc.TraceID().String()
		}
		g.records.Add(r)
	}
	return resp
}

// route picks what handles a request. It returns the response frame, or sets o's error.
func (g *Gateway) route(ctx context.Context, cs *clientSession, frame []byte, env *jsonrpc.Envelope, x sink, o *outcome) []byte {
	v := cs.view
	switch methodName(env) {
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		if v.aggregate() {
			return g.list(ctx, cs, frame, env, x, o)
		}
		resp := g.forward(ctx, cs, v.single, "", frame, env, x, o)
		if env.MethodIs("tools/list") && o.code == 0 {
			noteTools(g.pipeline.Load().Server(v.single), resp)
		}
		return resp
	case "tools/call", "prompts/get":
		return g.byName(ctx, cs, frame, env, x, o, env.Name)
	case "completion/complete":
		if env.Name.Present() {
			return g.byName(ctx, cs, frame, env, x, o, env.Name)
		}
		return g.byURI(ctx, cs, frame, env, x, o)
	case "resources/read", "resources/subscribe", "resources/unsubscribe":
		return g.byURI(ctx, cs, frame, env, x, o)
	case "logging/setLevel":
		return g.broadcast(ctx, cs, frame, env, o)
	default:
		if !v.aggregate() {
			return g.forward(ctx, cs, v.single, "", frame, env, x, o)
		}
		o.fail(jsonrpc.CodeMethodNotFound, "method not found: %s", env.Method)
		return nil
	}
}

// methods are the method names the gateway meets most, so that naming one costs no allocation.
var methods = map[string]string{}

func init() {
	for _, m := range []string{"tools/call", "tools/list", "prompts/get", "prompts/list", "resources/read",
		"resources/list", "resources/templates/list", "resources/subscribe", "resources/unsubscribe",
		"completion/complete", "logging/setLevel", "ping", "initialize"} {
		methods[m] = m
	}
}

// methodName returns the request's method as a string, shared for the common ones.
func methodName(env *jsonrpc.Envelope) string {
	if m, ok := methods[string(env.Method)]; ok {
		return m
	}
	return string(env.Method)
}

// byName routes a request that names a tool or prompt, removing the namespace prefix.
func (g *Gateway) byName(ctx context.Context, cs *clientSession, frame []byte, env *jsonrpc.Envelope, x sink, o *outcome, span jsonrpc.Span) []byte {
	raw, ok := jsonrpc.Unquote(span.In(frame))
	if !ok || len(raw) == 0 {
		o.fail(jsonrpc.CodeInvalidParams, "%s needs params.name", env.Method)
		return nil
	}
	exposed := string(raw)
	server, name, ok := cs.view.split(exposed)
	if !ok {
		kind := "tool"
		if !env.MethodIs("tools/call") {
			kind = "prompt"
		}
		o.name = exposed
		o.fail(jsonrpc.CodeInvalidParams, "unknown %s %q: no server %q is behind this endpoint (names are <server>%s<name>)", kind, exposed, serverPart(exposed, cs.view.sep), cs.view.sep)
		return nil
	}
	if orig, found := cs.original(server, exposed); found {
		name = orig
	}
	o.name = name
	if cs.view.aggregate() {
		frame = jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: span, With: jsonrpc.AppendQuote(nil, name)})
		var e jsonrpc.Envelope
		if err := jsonrpc.Decode(frame, &e); err != nil {
			o.fail(jsonrpc.CodeInternalError, "rewriting name: %v", err)
			return nil
		}
		env = &e
	}
	return g.forward(ctx, cs, server, name, frame, env, x, o)
}

// serverPart is what a name gives as its server: the text before the first separator.
func serverPart(exposed, sep string) string {
	server, _, _ := strings.Cut(exposed, sep)
	return server
}

// byURI routes a request on a resource to the server that listed it.
func (g *Gateway) byURI(ctx context.Context, cs *clientSession, frame []byte, env *jsonrpc.Envelope, x sink, o *outcome) []byte {
	raw, ok := jsonrpc.Unquote(env.URI.In(frame))
	if !ok || len(raw) == 0 {
		o.fail(jsonrpc.CodeInvalidParams, "%s needs params.uri", env.Method)
		return nil
	}
	uri := string(raw)
	o.name = uri
	server := cs.view.single
	if a, ok := cs.unalias(uri); ok && server == "" {
		// A resource the client knows under the gateway's alias: the server gets its own URI,
		// and the answer names the alias again.
		frame = jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: env.URI, With: jsonrpc.AppendQuote(nil, a.uri)})
		var e jsonrpc.Envelope
		if err := jsonrpc.Decode(frame, &e); err != nil {
			o.fail(jsonrpc.CodeInternalError, "rewriting uri: %v", err)
			return nil
		}
		resp := g.forward(ctx, cs, a.server, "", frame, &e, x, o)
		if o.code != 0 {
			return nil
		}
		return renameURIs(resp, a.uri, uri)
	}
	if server == "" {
		if server = cs.resolveURI(uri); server == "" {
			g.indexResources(ctx, cs)
			server = cs.resolveURI(uri)
		}
		if server == "" {
			// Servers may accept URIs they do not list (subscriptions to watched resources): the
			// unprefixed server, or the only one, gets to decide.
			server = cs.view.bare
			if len(cs.view.servers) == 1 {
				server = cs.view.servers[0]
			}
		}
		if server == "" {
			o.fail(CodeResourceNotFound, "resource not found: %s (no server behind this endpoint lists it)", uri)
			return nil
		}
	}
	return g.forward(ctx, cs, server, "", frame, env, x, o)
}

// forward sends a request to a server and returns its response with the client's id restored.
// A failure that cannot have had an effect (the replica was unreachable) is retried on another
// replica; one that may have (the connection died mid-call) is retried only for tools annotated
// read-only or idempotent.
func (g *Gateway) forward(ctx context.Context, cs *clientSession, server, tool string, frame []byte, env *jsonrpc.Envelope, x sink, o *outcome) []byte {
	snap := g.pipeline.Acquire()
	defer snap.Release()
	srv := snap.Server(server)
	o.server = server
	call := pipeline.Call{Principal: cs.caller, Method: methodName(env), Server: server, Name: o.name}
	defer func() { o.plugins = call.Plugins }()
	if snap.Guards != nil {
		out, err := snap.Guards.Request(ctx, &call, frame)
		if err != nil {
			o.block(err)
			return nil
		}
		if !sameSlice(out, frame) {
			var e jsonrpc.Envelope
			if err := jsonrpc.Decode(out, &e); err != nil {
				o.fail(CodeBlocked, "blocked: a guard rewrote the request into invalid JSON-RPC")
				return nil
			}
			frame, env = out, &e
		}
	}
	timeout := srv.Timeout(tool)
	callCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	on := func(sess *upstream.Session) func([]byte) {
		return func(f []byte) {
			var e jsonrpc.Envelope
			if jsonrpc.Decode(f, &e) != nil {
				return
			}
			if rt, ok := x.(*roundTrips); ok && e.Kind == jsonrpc.KindRequest {
				rt.ask(sess, f, &e) // a stateless client answers in its next round trip
				return
			}
			out := cs.relayFromServer(sess, f, &e)
			if out != nil && snap.Guards != nil {
				// What a server sends during a call passes the response guards too; a blocked
				// notification or request is not shown to the client.
				var err error
				if out, err = snap.Guards.Response(ctx, &call, out); err != nil {
					g.log.Info("guard withheld a message from a server", "server", server, "err", err)
					out = nil
				}
			}
			if out != nil {
				x.push(out)
			}
		}
	}
	tried := map[int]bool{}
	attempts := 1 + *srv.Config.Retries
	for attempt := 0; ; attempt++ {
		o.retries = attempt
		sess, err := g.upstreamSession(callCtx, cs, srv, tried)
		if err != nil {
			if upstream.IsUnavailable(err) && attempt+1 < attempts && callCtx.Err() == nil {
				continue
			}
			return g.callFailed(ctx, callCtx, srv, timeout, err, o)
		}
		if sess.Replica != nil {
			o.replica = sess.Replica.Name()
		}
		resp, streamed, err := sess.Call(callCtx, frame, env, on(sess))
		if err == nil {
			if p, ok := x.(interface{ preferStream() }); ok && streamed {
				p.preferStream() // answer as the server did
			}
			return g.answer(ctx, snap, &call, resp, env.ID.In(frame), o)
		}
		if callCtx.Err() != nil {
			return g.callFailed(ctx, callCtx, srv, timeout, err, o)
		}
		cs.drop(server, sess)
		safe := upstream.IsUnavailable(err) || (errors.Is(err, upstream.ErrClosed) && tool != "" && srv.SafeToRetry(tool))
		if safe && attempt+1 < attempts {
			continue
		}
		return g.callFailed(ctx, callCtx, srv, timeout, err, o)
	}
}

// answer restores the client's id on a server's response and runs the response guards.
func (g *Gateway) answer(ctx context.Context, snap *pipeline.Snapshot, call *pipeline.Call, resp, clientID []byte, o *outcome) []byte {
	var e jsonrpc.Envelope
	if err := jsonrpc.Decode(resp, &e); err != nil || e.Kind != jsonrpc.KindResponse {
		o.fail(CodeUpstreamProtocol, "upstream %s answered with invalid JSON-RPC", call.Server)
		return nil
	}
	if e.Error.Present() {
		// The server's own error goes to the client as it is; the record keeps its code.
		o.upstreamCode, _ = strconv.Atoi(string(errorCode(resp, &e)))
	}
	out := jsonrpc.Splice(make([]byte, 0, len(resp)+len(clientID)), resp, jsonrpc.Edit{Span: e.ID, With: clientID})
	if snap.Guards != nil {
		guarded, err := snap.Guards.Response(ctx, call, out)
		if err == nil && call.Method == "tools/list" && !e.Error.Present() {
			guarded, err = snap.Guards.Tools(ctx, call, guarded)
		}
		if err != nil {
			o.block(err)
			return nil
		}
		out = guarded
	}
	return out
}

func errorCode(frame []byte, e *jsonrpc.Envelope) []byte {
	s, ok := jsonrpc.Member(frame, e.Error, "code")
	if !ok {
		return nil
	}
	return s.In(frame)
}

// callFailed turns a failed call into the client's error, naming the server.
func (g *Gateway) callFailed(parent, callCtx context.Context, srv *upstream.Server, timeout time.Duration, err error, o *outcome) []byte {
	switch {
	case parent.Err() != nil:
		o.fail(CodeCancelled, "request cancelled")
	case errors.Is(callCtx.Err(), context.DeadlineExceeded):
		o.fail(CodeTimeout, "upstream %s did not answer within %v", srv.Name, timeout)
	case upstream.IsUnavailable(err):
		o.fail(CodeUnavailable, "upstream %s unavailable: %v", srv.Name, err)
	case errors.Is(err, upstream.ErrProtocol):
		o.fail(CodeUpstreamProtocol, "upstream %s sent an invalid answer: %v", srv.Name, err)
	default:
		o.fail(CodeUnavailable, "upstream %s failed during the call: %v", srv.Name, err)
	}
	return nil
}

// upstreamSession returns the client session's session with srv, opening it when needed.
func (g *Gateway) upstreamSession(ctx context.Context, cs *clientSession, srv *upstream.Server, tried map[int]bool) (*upstream.Session, error) {
	if srv.Config.Session == "shared" {
		// Shared sessions belong to replicas, so each call can go to another replica.
		return srv.Open(ctx, upstream.Options{Handler: g.sharedHandler}, tried)
	}
	slot := cs.slot(srv.Name)
	slot.mu.Lock()
	defer slot.mu.Unlock()
	if s := slot.sess; s != nil && s.Alive() && (s.Replica == nil || !tried[s.Replica.Index]) {
		return s, nil
	}
	opts := upstream.Options{ClientInfo: cs.info, ClientCapabilities: cs.caps,
		Handler: func(s *upstream.Session, f []byte, e *jsonrpc.Envelope) { g.unsolicited(cs, s, f, e) }}
	sess, err := srv.Open(ctx, opts, tried)
	if err != nil {
		return nil, err
	}
	slot.sess = sess
	return sess, nil
}

// drop forgets a failed upstream session so the next call opens a new one.
func (cs *clientSession) drop(server string, sess *upstream.Session) {
	slot := cs.slot(server)
	slot.mu.Lock()
	if slot.sess == sess {
		slot.sess = nil
	}
	slot.mu.Unlock()
	if !isShared(sess) {
		go sess.Close()
	}
}

// unsolicited delivers what a per-client upstream session sends outside a call to the client's
// standalone stream.
func (g *Gateway) unsolicited(cs *clientSession, sess *upstream.Session, frame []byte, env *jsonrpc.Envelope) {
	if out := cs.relayFromServer(sess, frame, env); out != nil {
		cs.out.push(out)
	}
}

// sharedHandler handles what a shared upstream session sends outside a call. Change
// notifications go to every client that can see the server; anything else could belong to any
// of them, so it is not shown to any (a server request gets an error answer).
func (g *Gateway) sharedHandler(sess *upstream.Session, frame []byte, env *jsonrpc.Envelope) {
	switch {
	case env.Kind == jsonrpc.KindNotification && upstream.IsChangeNotification(env):
		g.mu.RLock()
		var targets []*clientSession
		for _, cs := range g.sessions {
			if cs.view.has(sess.Server) {
				targets = append(targets, cs)
			}
		}
		g.mu.RUnlock()
		for _, cs := range targets {
			cs.out.push(append([]byte(nil), frame...))
		}
	case env.Kind == jsonrpc.KindRequest:
		sess.Notify(context.Background(), jsonrpc.AppendError(nil, env.ID.In(frame), jsonrpc.CodeInternalError,
			"portcullis: this server is shared between clients, so requests outside a call cannot be routed to one"))
	}
}

// broadcast sends a request to every server of the view (logging/setLevel) and succeeds when one
// of them accepts it.
func (g *Gateway) broadcast(ctx context.Context, cs *clientSession, frame []byte, env *jsonrpc.Envelope, o *outcome) []byte {
	snap := g.pipeline.Load()
	var lastErr error
	ok := 0
	for _, name := range cs.view.servers {
		srv := snap.Server(name)
		sctx, cancel := context.WithTimeout(ctx, srv.Config.Timeout.D())
		sess, err := g.upstreamSession(sctx, cs, srv, nil)
		if err == nil {
			_, err = sess.Request(sctx, string(env.Method), env.Params.In(frame))
		}
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		ok++
	}
	if ok == 0 && lastErr != nil {
		o.fail(jsonrpc.CodeInternalError, "%s failed on every server: %v", env.Method, lastErr)
		return nil
	}
	return jsonrpc.AppendResult(nil, env.ID.In(frame), []byte("{}"))
}

// sameSlice reports whether a guard handed back the frame it was given, unchanged.
func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
