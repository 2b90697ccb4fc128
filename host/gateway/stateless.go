package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/internal/sse"
	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
)

// The 2026-07-28 stateless era: no initialize and no session; every request carries the
// protocol version, client info and capabilities in params._meta. The gateway still holds
// stateful sessions with 2025-era upstreams: it keeps one stateless context per caller and
// endpoint, whose upstream sessions serve all of that caller's requests.

// StatelessVersion is the first protocol version without sessions.
const StatelessVersion = "2026-07-28"

const (
	metaVersion      = "io.modelcontextprotocol/protocolVersion"
	metaClientInfo   = "io.modelcontextprotocol/clientInfo"
	metaCapabilities = "io.modelcontextprotocol/clientCapabilities"
	metaServerInfo   = "io.modelcontextprotocol/serverInfo"
	metaSubscription = "io.modelcontextprotocol/subscriptionId"
)

// isStateless reports whether a request without a session speaks the stateless era.
func isStateless(ctx *fasthttp.RequestCtx) bool {
	return len(ctx.Request.Header.Peek("Mcp-Session-Id")) == 0 &&
		string(ctx.Request.Header.Peek("Mcp-Protocol-Version")) >= StatelessVersion
}

// statelessMeta is what a stateless request says about its client.
type statelessMeta struct {
	Version      string          `json:"io.modelcontextprotocol/protocolVersion"`
	ClientInfo   json.RawMessage `json:"io.modelcontextprotocol/clientInfo"`
	Capabilities json.RawMessage `json:"io.modelcontextprotocol/clientCapabilities"`
}

func readMeta(frame []byte, env *jsonrpc.Envelope) statelessMeta {
	var m statelessMeta
	if s, ok := jsonrpc.Member(frame, env.Params, "_meta"); ok {
		json.Unmarshal(s.In(frame), &m)
	}
	return m
}

// statelessContext returns the caller's context for the endpoint, creating it on first use.
func (g *Gateway) statelessContext(v *view, caller identity.Principal, m statelessMeta) *clientSession {
	key := "stateless/" + caller.Key + "/" + v.single
	g.mu.Lock()
	defer g.mu.Unlock()
	cs := g.sessions[key]
	if cs == nil {
		cs = newClientSession(caller, v)
		cs.id, cs.stateless, cs.version = key, true, StatelessVersion
		g.sessions[key] = cs
	}
	if len(m.Capabilities) > 0 { // later upstream sessions offer what the client offers now
		cs.mu.Lock()
		cs.caps, cs.info = m.Capabilities, m.ClientInfo
		cs.mu.Unlock()
	}
	cs.touch()
	return cs
}

// stateless handles one request of a stateless client.
func (g *Gateway) stateless(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal, frame []byte, env jsonrpc.Envelope) {
	m := readMeta(frame, &env)
	if m.Version != "" && m.Version != string(ctx.Request.Header.Peek("Mcp-Protocol-Version")) {
		rpcError(ctx, fasthttp.StatusBadRequest, errorID(frame, &env), -32020, "MCP-Protocol-Version header and params._meta protocol version differ")
		return
	}
	cs := g.statelessContext(v, caller, m)
	switch {
	case env.Kind != jsonrpc.KindRequest:
		g.clientMessage(cs, frame, &env)
		ctx.SetStatusCode(fasthttp.StatusAccepted)
	case env.MethodIs("server/discover"):
		writeJSON(ctx, g.discover(cs, frame, &env))
	case env.MethodIs("subscriptions/listen"):
		g.listen(ctx, cs, frame, &env)
	case env.MethodIs("ping"):
		writeJSON(ctx, jsonrpc.AppendResult(nil, env.ID.In(frame), []byte(`{"resultType":"complete"}`)))
	default:
		// The era's _meta keys mean nothing to a 2025-era session, and a server that sees them
		// takes the request for a stateless one: they stop at the gateway.
		if meta, ok := jsonrpc.Member(frame, env.Params, "_meta"); ok {
			if out := jsonrpc.WithoutMembers(frame, meta, metaVersion, metaClientInfo, metaCapabilities); !sameSlice(out, frame) {
				frame = out
				if err := jsonrpc.Decode(frame, &env); err != nil {
					rpcError(ctx, fasthttp.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, err.Error())
					return
				}
			}
		}
		x := g.newExchange(1, false)
		g.calls.add()
		cancel := g.startCall(cs.ctx, cs, frame, env, x, string(ctx.Request.Header.Peek("traceparent")))
		x.respond(ctx, cancel, g.calls.done)
	}
}

// discover answers server/discover: the versions the gateway speaks, and what the endpoint
// offers (for a single-server endpoint, that server's capabilities and identity).
func (g *Gateway) discover(cs *clientSession, frame []byte, env *jsonrpc.Envelope) []byte {
	caps, info, instructions, err := g.offer(cs)
	if err != nil {
		return jsonrpc.AppendError(nil, env.ID.In(frame), CodeUnavailable, err.Error())
	}
	res := map[string]any{
		"resultType":        "complete",
		"supportedVersions": append([]string{StatelessVersion}, SupportedVersions...),
		"capabilities":      caps,
		"_meta":             map[string]any{metaServerInfo: info},
	}
	if instructions != "" {
		res["instructions"] = instructions
	}
	body, _ := json.Marshal(res)
	return jsonrpc.AppendResult(nil, env.ID.In(frame), body)
}

// listen answers subscriptions/listen: an SSE stream that acknowledges the subscription, then
// carries the change notifications of the caller's upstream sessions until the client cancels
// it (or goes away), and ends with the request's result.
func (g *Gateway) listen(ctx *fasthttp.RequestCtx, cs *clientSession, frame []byte, env *jsonrpc.Envelope) {
	id := append([]byte(nil), env.ID.In(frame)...)
	wanted := []byte("{}")
	if s, ok := jsonrpc.Member(frame, env.Params, "notifications"); ok {
		wanted = append([]byte(nil), s.In(frame)...)
	}
	stop := make(chan struct{})
	var once sync.Once
	cs.mu.Lock()
	cs.inflight[string(id)] = func() { once.Do(func() { close(stop) }) }
	cs.mu.Unlock()
	// Open the upstream sessions now: their notifications are what the stream carries.
	g.collect(cs.ctx, cs, "tools/list")
	if !cs.out.attach() {
		rpcError(ctx, fasthttp.StatusConflict, id, jsonrpc.CodeInvalidRequest, "a subscription is already open for this caller")
		return
	}
	sub := `{"` + metaSubscription + `":` + string(id) + `}`
	startSSE(ctx)
	g.streams.add()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer g.streams.done()
		defer cs.out.detach()
		defer func() {
			cs.mu.Lock()
			delete(cs.inflight, string(id))
			cs.mu.Unlock()
		}()
		ack := `{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":` + sub + `,"notifications":` + string(wanted) + `}}`
		shape := func(f []byte) []byte {
			if !bytes.Contains(f, []byte(`"method":"notifications/`)) {
				return nil // requests need a round trip a stateless client cannot make here
			}
			return withSubscription(f, sub)
		}
		if g.pump(w, cs, sse.AppendEvent(nil, "message", "", []byte(ack)), shape, stop) {
			end := jsonrpc.AppendResult(nil, id, []byte(`{"resultType":"complete","_meta":`+sub+`}`))
			w.Write(sse.AppendEvent(nil, "message", "", end))
			w.Flush()
		}
	})
}

// withSubscription adds the subscription id to a notification's params._meta.
func withSubscription(frame []byte, sub string) []byte {
	var env jsonrpc.Envelope
	if jsonrpc.Decode(frame, &env) != nil {
		return frame
	}
	if !env.Params.Present() {
		return jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: jsonrpc.Span{Start: len(frame) - 1, End: len(frame) - 1}, With: []byte(`,"params":{"_meta":` + sub + `}`)})
	}
	if _, has := jsonrpc.Member(frame, env.Params, "_meta"); has || frame[env.Params.Start] != '{' {
		return frame
	}
	insert := `"_meta":` + sub
	if strings.TrimSpace(string(env.Params.In(frame)[1:env.Params.End-env.Params.Start-1])) != "" {
		insert += ","
	}
	return jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: jsonrpc.Span{Start: env.Params.Start + 1, End: env.Params.Start + 1}, With: []byte(insert)})
}
