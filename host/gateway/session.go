package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// clientSession is one MCP session of one client with the gateway. It owns the upstream sessions
// it opened (one per server, unless the server is shared) and the mappings that let answers and
// cancellations find their way back.
type clientSession struct {
	id        string
	caller    identity.Principal
	view      *view
	legacy    bool            // a 2024-11-05 HTTP+SSE session: everything goes back on its stream
	stateless bool            // the context of a 2026-07-28 caller: no session id, no requests to the client
	version   string          // protocol version agreed with the client
	caps      json.RawMessage // the client's capabilities, offered to per-client upstream sessions
	info      json.RawMessage // the client's clientInfo
	lastUsed  atomic.Int64    // unix nanoseconds
	ctx       context.Context // ends when the session closes
	cancel    context.CancelFunc

	mu        sync.Mutex
	upstreams map[string]*upSlot
	inflight  map[string]context.CancelFunc // client request id -> cancel, for notifications/cancelled
	serverReq map[string]pendingServerRequest
	parked    map[string]*roundTrips // requestState -> a stateless call waiting for the client's answers
	nextReq   int64
	names     map[string]map[string]string // server -> exposed name -> original, for shortened names
	uris      map[string]string            // resource URI -> server
	aliases   map[string]serverURI         // gateway URI -> a server's resource whose URI another server also lists
	aliasOf   map[serverURI]string
	templates []uriTemplate

	out outbox // messages for the standalone GET stream
}

// upSlot serialises opening the session with one server, so concurrent calls share one dial
// while calls to other servers go on.
type upSlot struct {
	mu   sync.Mutex
	sess *upstream.Session
}

// pendingServerRequest remembers a request a server sent to the client, to route the answer back.
type pendingServerRequest struct {
	sess *upstream.Session
	id   []byte // the server's own request id
}

type uriTemplate struct {
	prefix string // the template up to its first expression
	server string
}

func newSessionID() string {
	var b [16]byte // 128 random bits
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newClientSession(caller identity.Principal, v *view) *clientSession {
	ctx, cancel := context.WithCancel(context.Background())
	cs := &clientSession{
		id: newSessionID(), caller: caller, view: v,
		ctx: ctx, cancel: cancel,
		upstreams: map[string]*upSlot{}, inflight: map[string]context.CancelFunc{},
		serverReq: map[string]pendingServerRequest{}, parked: map[string]*roundTrips{}, names: map[string]map[string]string{}, uris: map[string]string{},
		aliases: map[string]serverURI{}, aliasOf: map[serverURI]string{},
	}
	cs.out.init()
	cs.touch()
	return cs
}

func (cs *clientSession) touch() { cs.lastUsed.Store(time.Now().UnixNano()) }

func (cs *clientSession) slot(server string) *upSlot {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	s := cs.upstreams[server]
	if s == nil {
		s = &upSlot{}
		cs.upstreams[server] = s
	}
	return s
}

// close ends the session: its upstream sessions (not shared ones), calls in flight and stream.
func (cs *clientSession) close() {
	cs.cancel()
	cs.mu.Lock()
	slots := cs.upstreams
	cs.upstreams = map[string]*upSlot{}
	cs.mu.Unlock()
	var wg sync.WaitGroup
	for _, s := range slots {
		s.mu.Lock()
		sess := s.sess
		s.sess = nil
		s.mu.Unlock()
		if sess != nil && !isShared(sess) {
			wg.Add(1)
			go func() { defer wg.Done(); sess.Close() }()
		}
	}
	wg.Wait()
	cs.out.close()
}

func isShared(s *upstream.Session) bool {
	return s.Replica != nil && s.Replica.Shared() == s
}

// rememberServerRequest gives a server's request an id of the gateway's for the client, unique
// within the session whichever server sent it.
func (cs *clientSession) rememberServerRequest(sess *upstream.Session, id []byte) []byte {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.nextReq++
	key := `"pc-` + strconv.FormatInt(cs.nextReq, 10) + `"`
	cs.serverReq[key] = pendingServerRequest{sess: sess, id: append([]byte(nil), id...)}
	return []byte(key)
}

func (cs *clientSession) takeServerRequest(id []byte) (pendingServerRequest, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	p, ok := cs.serverReq[string(id)]
	delete(cs.serverReq, string(id))
	return p, ok
}

// relayFromServer turns a frame a server sent into the frame the client sees: a server request
// gets a session-unique id. It returns nil for frames the client must not see.
func (cs *clientSession) relayFromServer(sess *upstream.Session, frame []byte, env *jsonrpc.Envelope) []byte {
	switch env.Kind {
	case jsonrpc.KindRequest:
		if cs.stateless {
			// A stateless client answers server requests only through multi-round-trip
			// results, which the gateway does not bridge yet: the server hears so at once.
			sess.Notify(cs.ctx, jsonrpc.AppendError(nil, env.ID.In(frame), jsonrpc.CodeMethodNotFound,
				"portcullis: the client speaks "+StatelessVersion+" and cannot take "+string(env.Method)+" requests through this gateway yet"))
			return nil
		}
		id := cs.rememberServerRequest(sess, env.ID.In(frame))
		return jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: env.ID, With: id})
	case jsonrpc.KindNotification:
		if env.MethodIs("notifications/resources/updated") {
			if uri, ok := jsonrpc.Unquote(env.URI.In(frame)); ok {
				if alias := cs.aliasFor(sess.Server, string(uri)); alias != string(uri) {
					return jsonrpc.Splice(nil, frame, jsonrpc.Edit{Span: env.URI, With: jsonrpc.AppendQuote(nil, alias)})
				}
			}
		}
		return append([]byte(nil), frame...)
	}
	return nil
}

// outbox queues frames for the client's standalone GET stream. It is bounded: a client that never
// opens the stream, or reads too slowly, loses the oldest frames rather than growing memory. Every
// frame gets an event id, and the last frames sent are kept, so that a client that reconnects with
// Last-Event-ID gets what it missed.
type outbox struct {
	mu      sync.Mutex
	queue   []event
	sent    []event // the last sentLimit events written, oldest first
	seq     int64
	signal  chan struct{}
	closed  chan struct{}
	once    sync.Once
	reader  bool // a GET stream is attached
	dropped int
}

// event is one frame with its stream event id.
type event struct {
	id    int64
	frame []byte
}

const (
	outboxLimit = 1024
	sentLimit   = 256
)

func (o *outbox) init() {
	o.signal = make(chan struct{}, 1)
	o.closed = make(chan struct{})
}

func (o *outbox) push(frame []byte) {
	o.mu.Lock()
	if len(o.queue) >= outboxLimit {
		o.queue = o.queue[1:]
		o.dropped++
	}
	o.seq++
	o.queue = append(o.queue, event{o.seq, frame})
	o.mu.Unlock()
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

// take returns the queued events and empties the queue; they count as sent.
func (o *outbox) take() []event {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queue
	o.queue = nil
	o.sent = append(o.sent, q...)
	if n := len(o.sent) - sentLimit; n > 0 {
		o.sent = append(o.sent[:0:0], o.sent[n:]...)
	}
	return q
}

// replay queues again the sent events after id, for a stream that resumes from there.
func (o *outbox) replay(after int64) {
	o.mu.Lock()
	var again []event
	for _, e := range o.sent {
		if e.id > after {
			again = append(again, e)
		}
	}
	o.queue = append(again, o.queue...)
	o.mu.Unlock()
}

func (o *outbox) attach() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.reader {
		return false
	}
	o.reader = true
	return true
}

func (o *outbox) detach() {
	o.mu.Lock()
	o.reader = false
	o.mu.Unlock()
}

func (o *outbox) close() { o.once.Do(func() { close(o.closed) }) }
