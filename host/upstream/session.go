package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
)

// ProtocolVersion is what the gateway asks upstream servers for. Frames are relayed mostly as
// they are, so the newest stateful era gives clients the richest features a server has.
const ProtocolVersion = "2025-11-25"

// Handler receives what a server sends outside any call the session can attribute it to:
// list_changed and resource update notifications, logging, and server-to-client requests. The
// frame is only valid during the call.
type Handler func(s *Session, frame []byte, env *jsonrpc.Envelope)

// Init is what the server said about itself in its initialize result.
type Init struct {
	ProtocolVersion string          `json:"protocolVersion"`
	Capabilities    json.RawMessage `json:"capabilities"`
	ServerInfo      json.RawMessage `json:"serverInfo"`
	Instructions    string          `json:"instructions,omitempty"`
}

// Session is one initialized MCP session with one server. It gives every request its own upstream
// id, matches responses and related messages to calls, and routes the rest to its Handler. It is
// safe for concurrent use.
type Session struct {
	Server  string
	Replica *Replica // nil for sessions not bound to a replica
	Init    Init

	t        Transport
	closing  atomic.Bool // set by Close: the end was ours, not the server's failure
	streamed atomic.Bool // the server's last answer came on an SSE stream
	handler  Handler
	nextID   atomic.Int64
	mu       sync.Mutex
	pending  map[int64]*call
}

// call is one request in flight.
type call struct {
	token    []byte // the client's progress token, restored on progress notifications
	on       func(frame []byte)
	response chan []byte
	failed   error // set before response is closed without a frame
	streamed bool  // the response came on an SSE stream; set before it is sent on response
}

// Dialer starts a transport whose frames go to inbox.
type Dialer func(ctx context.Context, inbox Inbox) (Transport, error)

// Options shape the initialize request.
type Options struct {
	ClientInfo         json.RawMessage // what the gateway calls itself; defaults to portcullis
	ClientCapabilities json.RawMessage // capabilities offered to the server (the client's, when per-client)
	Handler            Handler
}

// Open starts a transport and runs the initialize handshake. The returned session is ready for
// calls; ErrUnavailable (wrapped) means the server could not be reached at all.
func Open(ctx context.Context, server string, dial Dialer, opts Options) (*Session, error) {
	s := &Session{Server: server, handler: opts.Handler, pending: map[int64]*call{}}
	if s.handler == nil {
		s.handler = func(*Session, []byte, *jsonrpc.Envelope) {}
	}
	t, err := dial(ctx, s)
	if err != nil {
		return nil, err
	}
	s.t = t
	go s.watch()
	info := opts.ClientInfo
	if len(info) == 0 {
		info = json.RawMessage(`{"name":"portcullis","version":"dev"}`)
	}
	caps := opts.ClientCapabilities
	if len(caps) == 0 {
		caps = json.RawMessage(`{}`)
	}
	params, _ := json.Marshal(map[string]any{"protocolVersion": ProtocolVersion, "capabilities": caps, "clientInfo": info})
	res, err := s.Request(ctx, "initialize", params)
	if err != nil {
		t.Close()
		// A server that never answered initialize was effectively unreachable.
		if errors.Is(err, ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: initialize: %v", ErrUnavailable, err)
		}
		return nil, err
	}
	if err := json.Unmarshal(res, &s.Init); err != nil || s.Init.ProtocolVersion == "" {
		t.Close()
		return nil, fmt.Errorf("%w: bad initialize result: %.200s", ErrProtocol, res)
	}
	if v, ok := t.(versioned); ok {
		v.setProtocolVersion(s.Init.ProtocolVersion)
	}
	// The standalone stream opens before initialized: servers that send something as soon as the
	// session starts (a list_changed, a request) would otherwise send it into the void.
	if st, ok := t.(sessionStarter); ok {
		st.startSession(ctx)
	}
	if err := t.Send(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`), 0); err != nil {
		t.Close()
		return nil, err
	}
	return s, nil
}

// Done is closed when the session can no longer carry calls.
func (s *Session) Done() <-chan struct{} { return s.t.Done() }

// Err says why the session ended.
func (s *Session) Err() error { return s.t.Err() }

// Streams reports whether the server's last answer came on an SSE stream rather than as JSON.
func (s *Session) Streams() bool { return s.streamed.Load() }

// Alive reports whether the session can still carry calls.
func (s *Session) Alive() bool {
	select {
	case <-s.t.Done():
		return false
	default:
		return true
	}
}

// Close ends the session and its transport.
func (s *Session) Close() error {
	s.closing.Store(true)
	return s.t.Close()
}

// watch fails every pending call when the transport dies.
func (s *Session) watch() {
	<-s.t.Done()
	s.mu.Lock()
	pending := s.pending
	s.pending = map[int64]*call{}
	s.mu.Unlock()
	for _, c := range pending {
		close(c.response)
	}
}

// Call sends a request frame (from a client, with its own id) and returns the server's response
// frame, which still carries the upstream id: the caller restores the client's; streamed says the
// server answered on an SSE stream rather than with a JSON body. Messages the
// server sends in relation to the call (progress, logging, server-to-client requests) go to on,
// with progress tokens restored; on must not block for long. A call whose context ends is
// cancelled upstream with notifications/cancelled.
func (s *Session) Call(ctx context.Context, frame []byte, env *jsonrpc.Envelope, on func(frame []byte)) (resp []byte, streamed bool, err error) {
	id := s.nextID.Add(1)
	var idBuf [20]byte
	idBytes := strconv.AppendInt(idBuf[:0], id, 10)
	c := &call{on: on, response: make(chan []byte, 1)}
	edits := [2]jsonrpc.Edit{{Span: env.ID, With: idBytes}}
	if env.ProgressToken.Present() {
		// Tokens from different clients may collide on a shared session; the upstream id is unique.
		c.token = bytes.Clone(env.ProgressToken.In(frame))
		edits[1] = jsonrpc.Edit{Span: env.ProgressToken, With: idBytes}
	}
	out := jsonrpc.Splice(make([]byte, 0, len(frame)+8), frame, edits[:]...)
	resp, err = s.roundTrip(ctx, id, out, c)
	return resp, c.streamed, err
}

// Request sends a request the gateway itself makes (listing, initialize) and returns its result,
// or the server's error as an *RPCError.
func (s *Session) Request(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	id := s.nextID.Add(1)
	frame := []byte(`{"jsonrpc":"2.0","id":` + strconv.FormatInt(id, 10) + `,"method":` + strconv.Quote(method))
	if len(params) > 0 {
		frame = append(append(frame, `,"params":`...), params...)
	}
	frame = append(frame, '}')
	resp, err := s.roundTrip(ctx, id, frame, &call{response: make(chan []byte, 1)})
	if err != nil {
		return nil, err
	}
	var env jsonrpc.Envelope
	if err := jsonrpc.Decode(resp, &env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	if env.Error.Present() {
		return nil, decodeRPCError(env.Error.In(resp))
	}
	return env.Result.In(resp), nil
}

func (s *Session) roundTrip(ctx context.Context, id int64, frame []byte, c *call) ([]byte, error) {
	s.mu.Lock()
	if !s.Alive() {
		s.mu.Unlock()
		return nil, unavailable("%v", s.Err())
	}
	s.pending[id] = c
	s.mu.Unlock()
	if s.Replica != nil {
		s.Replica.inflight.Add(1)
		defer s.Replica.inflight.Add(-1)
	}
	if err := s.t.Send(ctx, frame, id); err != nil {
		if s.forget(id) && ctx.Err() != nil && !IsUnavailable(err) {
			s.Notify(context.Background(), cancelledFrame(id, ctx.Err()))
		}
		return nil, err
	}
	select {
	case resp, ok := <-c.response:
		if !ok {
			if c.failed != nil {
				return nil, c.failed
			}
			return nil, s.Err()
		}
		return resp, nil
	case <-ctx.Done():
		if s.forget(id) {
			s.Notify(context.Background(), cancelledFrame(id, ctx.Err()))
		}
		return nil, ctx.Err()
	}
}

// forget removes a pending call and reports whether it was still pending.
func (s *Session) forget(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.pending[id]
	delete(s.pending, id)
	return ok
}

// Cancel tells the server that the call with the given upstream request frame is abandoned. It is
// used when the client cancels; Call's context does the same when it ends.
func cancelledFrame(id int64, reason error) []byte {
	return []byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` +
		strconv.FormatInt(id, 10) + `,"reason":` + strconv.Quote(reason.Error()) + `}}`)
}

// Notify sends a notification or a response (to a server-to-client request).
func (s *Session) Notify(ctx context.Context, frame []byte) error {
	return s.t.Send(ctx, frame, 0)
}

// Fail implements Inbox: the transport lost the answer to request id.
func (s *Session) Fail(id int64, err error) {
	s.mu.Lock()
	c, ok := s.pending[id]
	delete(s.pending, id)
	s.mu.Unlock()
	if ok {
		c.failed = err
		close(c.response)
	}
}

// Receive implements Inbox.
func (s *Session) Receive(frame []byte, related int64, streamed bool) {
	var env jsonrpc.Envelope
	if err := jsonrpc.Decode(frame, &env); err != nil {
		s.protocolError(frame, err)
		return
	}
	switch env.Kind {
	case jsonrpc.KindResponse:
		id, err := strconv.ParseInt(string(env.ID.In(frame)), 10, 64)
		if err != nil {
			return // not one of ours
		}
		s.mu.Lock()
		c, ok := s.pending[id]
		delete(s.pending, id)
		s.mu.Unlock()
		if ok {
			c.streamed = streamed
			s.streamed.Store(streamed)
			c.response <- bytes.Clone(frame)
		}
		return
	case jsonrpc.KindNotification:
		if env.MethodIs("notifications/progress") {
			if s.deliverProgress(frame, &env) {
				return
			}
		}
	}
	if c := s.attribute(related); c != nil && c.on != nil && !IsChangeNotification(&env) {
		c.on(frame)
		return
	}
	s.handler(s, frame, &env)
}

// IsChangeNotification reports the notifications that concern a whole session, never one call:
// lists and resources that changed.
func IsChangeNotification(env *jsonrpc.Envelope) bool {
	switch string(env.Method) {
	case "notifications/tools/list_changed", "notifications/prompts/list_changed",
		"notifications/resources/list_changed", "notifications/resources/updated":
		return true
	}
	return false
}

// attribute finds the call a message belongs to: the one whose HTTP stream carried it, or the
// only call in flight when the transport cannot say.
func (s *Session) attribute(related int64) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	if related != 0 {
		return s.pending[related]
	}
	if len(s.pending) == 1 {
		for _, c := range s.pending {
			return c
		}
	}
	return nil
}

func (s *Session) deliverProgress(frame []byte, env *jsonrpc.Envelope) bool {
	// Decode puts params._meta.progressToken in ProgressToken; progress notifications put the
	// token directly under params, which we find here.
	span, ok := findParam(frame, env, "progressToken")
	if !ok {
		return false
	}
	id, err := strconv.ParseInt(string(span.In(frame)), 10, 64)
	if err != nil {
		return false
	}
	s.mu.Lock()
	c := s.pending[id]
	s.mu.Unlock()
	if c == nil || c.on == nil || c.token == nil {
		// The gateway issued every token this server knows: progress for a call that ended, or
		// that asked for none, belongs to no one and is dropped.
		return true
	}
	c.on(jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: span, With: c.token}))
	return true
}

// protocolError handles a frame that is not JSON-RPC: calls in flight cannot be matched to it, so
// they fail now with the reason rather than waiting for their timeout.
func (s *Session) protocolError(frame []byte, err error) {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[int64]*call{}
	s.mu.Unlock()
	msg := fmt.Sprintf(`{"jsonrpc":"2.0","id":0,"error":{"code":%d,"message":%q}}`, CodeUpstreamProtocol,
		fmt.Sprintf("upstream %s sent invalid JSON-RPC (%v): %.80q", s.Server, err, frame))
	for _, c := range pending {
		c.response <- []byte(msg)
	}
}

// CodeUpstreamProtocol is the JSON-RPC error code for a server that answered garbage.
const CodeUpstreamProtocol = -32011

// RPCError is an error response from a server.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("%s (code %d)", e.Message, e.Code) }

func decodeRPCError(raw []byte) error {
	e := &RPCError{}
	if err := json.Unmarshal(raw, e); err != nil {
		return fmt.Errorf("%w: bad error object", ErrProtocol)
	}
	return e
}

// findParam returns the span of params.<key> when the params are an object.
func findParam(frame []byte, env *jsonrpc.Envelope, key string) (jsonrpc.Span, bool) {
	return jsonrpc.Member(frame, env.Params, key)
}
