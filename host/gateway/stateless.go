package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/internal/sse"
	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
	"github.com/portcullis-mcp/portcullis/host/upstream"
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
		if g.retry(ctx, cs, frame, &env) {
			return
		}
		x := g.newExchange(1, false)
		rt := newRoundTrips(cs, x, env.ID.In(frame))
		g.calls.add()
		rt.cancel = g.startCall(cs.ctx, cs, frame, env, rt, string(ctx.Request.Header.Peek("traceparent")))
		x.respond(ctx, rt.cancel, g.calls.done)
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

// roundTrips carries one call of a stateless client across the round trips that stand in for the
// server's requests to the client: when the server asks (sampling, elicitation, roots), the POST
// in progress is answered with an input_required result; the client's retry, echoing the
// requestState with its inputResponses, delivers the answers to the server and waits for what
// comes next. The upstream call runs on throughout.
type roundTrips struct {
	cs     *clientSession
	cancel func()

	mu       sync.Mutex
	x        *exchange // the POST being answered; nil between rounds
	clientID []byte    // that POST's request id
	state    string    // the requestState the client echoes; "" before the first round
	n        int
	pending  map[string]pendingServerRequest // input request key -> the server's request
	asks     [][]byte                        // input requests waiting for the next round
	held     [][]byte                        // messages that came between rounds
	final    []byte                          // the call's response, if it came between rounds
}

func newRoundTrips(cs *clientSession, x *exchange, clientID []byte) *roundTrips {
	return &roundTrips{cs: cs, x: x, clientID: append([]byte(nil), clientID...), pending: map[string]pendingServerRequest{}}
}

func (r *roundTrips) push(frame []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.x != nil {
		r.x.push(frame)
	} else {
		r.held = append(r.held, frame)
	}
}

func (r *roundTrips) finish(frame []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != "" {
		r.cs.mu.Lock()
		delete(r.cs.parked, r.state)
		r.cs.mu.Unlock()
	}
	if r.x == nil {
		r.final = frame
		return
	}
	r.x.finish(withID(frame, r.clientID))
	r.x = nil
}

// ask turns a server's request into an input request of the client's current or next round.
func (r *roundTrips) ask(sess *upstream.Session, frame []byte, env *jsonrpc.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	key := "in-" + strconv.Itoa(r.n)
	r.pending[key] = pendingServerRequest{sess: sess, id: append([]byte(nil), env.ID.In(frame)...)}
	params := env.Params.In(frame)
	if len(params) == 0 {
		params = []byte("{}")
	}
	ask := append(jsonrpc.AppendQuote(nil, key), `:{"method":`...)
	ask = append(append(jsonrpc.AppendQuote(ask, string(env.Method)), `,"params":`...), params...)
	r.asks = append(r.asks, append(ask, '}'))
	if r.state == "" {
		r.state = newSessionID()
		r.cs.mu.Lock()
		r.cs.parked[r.state] = r
		r.cs.mu.Unlock()
	}
	if r.x != nil {
		r.round()
	}
}

// round answers the current POST with the input requests gathered so far. Called with r.mu held.
func (r *roundTrips) round() {
	res := []byte(`{"resultType":"input_required","inputRequests":{`)
	for i, a := range r.asks {
		if i > 0 {
			res = append(res, ',')
		}
		res = append(res, a...)
	}
	res = append(append(append(res, `},"requestState":`...), jsonrpc.AppendQuote(nil, r.state)...), '}')
	r.asks = nil
	r.x.finish(jsonrpc.AppendResult(nil, r.clientID, res))
	r.x = nil
}

// resume takes the client's retry: its answers go to the server, and the retry's POST receives
// what the call does next.
func (r *roundTrips) resume(x *exchange, clientID []byte, responses map[string]json.RawMessage) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.x != nil {
		return errors.New("this call already has a request waiting on it")
	}
	for key, resp := range responses {
		p, ok := r.pending[key]
		if !ok {
			continue
		}
		delete(r.pending, key)
		p.sess.Notify(r.cs.ctx, jsonrpc.AppendResult(nil, p.id, resp))
	}
	r.x, r.clientID = x, append([]byte(nil), clientID...)
	for _, f := range r.held {
		x.push(f)
	}
	r.held = nil
	switch {
	case r.final != nil:
		x.finish(withID(r.final, r.clientID))
		r.final, r.x = nil, nil
	case len(r.asks) > 0:
		r.round()
	}
	return nil
}

// withID gives a response the id of the request it now answers.
func withID(frame, id []byte) []byte {
	var env jsonrpc.Envelope
	if jsonrpc.Decode(frame, &env) != nil || !env.ID.Present() {
		return frame
	}
	return jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: env.ID, With: id})
}

// retry handles a stateless request that echoes a requestState. It reports false when the
// request is not a retry.
func (g *Gateway) retry(ctx *fasthttp.RequestCtx, cs *clientSession, frame []byte, env *jsonrpc.Envelope) bool {
	s, ok := jsonrpc.Member(frame, env.Params, "requestState")
	if !ok {
		return false
	}
	state, _ := jsonrpc.Unquote(s.In(frame))
	cs.mu.Lock()
	r := cs.parked[string(state)]
	cs.mu.Unlock()
	if r == nil {
		rpcError(ctx, fasthttp.StatusOK, env.ID.In(frame), jsonrpc.CodeInvalidParams, "unknown or finished requestState")
		return true
	}
	var responses map[string]json.RawMessage
	if rs, ok := jsonrpc.Member(frame, env.Params, "inputResponses"); ok {
		json.Unmarshal(rs.In(frame), &responses)
	}
	x := g.newExchange(1, false)
	if err := r.resume(x, env.ID.In(frame), responses); err != nil {
		rpcError(ctx, fasthttp.StatusOK, env.ID.In(frame), jsonrpc.CodeInvalidRequest, err.Error())
		return true
	}
	g.calls.add()
	x.respond(ctx, r.cancel, g.calls.done)
	return true
}
