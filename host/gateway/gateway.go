// Package gateway is the MCP front end: one Streamable HTTP endpoint that aggregates every
// configured server (/mcp) and one per server (/mcp/{server}), relaying each client session to
// upstream sessions of its own, with the flows that make MCP more than request/response:
// progress and logging streamed back as they come, cancellation passed on, list_changed
// notifications, and server-to-client requests relayed to the client that caused them.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/internal/seal"
	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
	"github.com/portcullis-mcp/portcullis/host/pipeline"
	"github.com/portcullis-mcp/portcullis/host/record"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// Version is the gateway's version, reported in serverInfo.
var Version = "dev"

// SupportedVersions are the protocol versions a client may ask for, newest first.
var SupportedVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// Options wire a gateway to the rest of the process.
type Options struct {
	Log     *slog.Logger
	Auth    identity.Authenticator // identity.Open when nil
	Records *record.Queue          // nil discards records
	Guards  pipeline.Guards        // the plugin chain; nil when no plugin is bound
	Env     upstream.Env           // for starting servers (demo server, log)
}

// Gateway serves MCP clients. Create it with New, run it with Serve.
type Gateway struct {
	cfg      *config.Config
	log      *slog.Logger
	auth     identity.Authenticator
	records  *record.Queue
	pipeline pipeline.Holder
	swapMu   sync.Mutex // one swap at a time, so each retires the snapshot it replaced
	views    atomic.Pointer[views]

	mu       sync.RWMutex
	sessions map[string]*clientSession
	ended    map[string]time.Time // ids ended with DELETE, refused until they would expire anyway
	sealer   *seal.Sealer

	server    *fasthttp.Server
	draining  atomic.Bool   // shutdown started: new requests get 503, readiness fails
	closing   chan struct{} // closed once calls in flight are done: standalone streams end
	calls     tracker
	streams   tracker
	shutdown  sync.Once
	keepAlive time.Duration // between comments on idle SSE streams
	bg        context.Context
	stopBG    context.CancelFunc
}

// New builds a gateway for cfg. Nothing listens until Serve.
func New(cfg *config.Config, opts Options) *Gateway {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Auth == nil {
		opts.Auth = identity.Open{}
	}
	if opts.Env.Log == nil {
		opts.Env.Log = opts.Log
	}
	g := &Gateway{cfg: cfg, log: opts.Log, auth: opts.Auth, records: opts.Records,
		sessions: map[string]*clientSession{}, ended: map[string]time.Time{}, closing: make(chan struct{}), keepAlive: keepAlive,
		sealer: seal.Random()}
	if cfg.SessionKey != "" {
		if s, err := seal.New([]byte(cfg.SessionKey)); err == nil { // validated with the config
			g.sealer = s
		}
	}
	g.bg, g.stopBG = context.WithCancel(context.Background())
	if opts.Env.Route == nil {
		opts.Env.Route = g.routeBySnapshot // routing plugins follow the current snapshot
	}
	snap := &pipeline.Snapshot{Version: 1, Servers: map[string]*upstream.Server{}, Guards: opts.Guards}
	for _, sc := range cfg.Servers {
		snap.Servers[sc.Name] = upstream.NewServer(sc, opts.Env)
		snap.Order = append(snap.Order, sc.Name)
	}
	g.pipeline.Swap(snap)
	g.views.Store(newViews(cfg))
	g.server = &fasthttp.Server{
		Handler:               g.handle,
		Name:                  "portcullis",
		MaxRequestBodySize:    cfg.MaxBodyBytes,
		ReadTimeout:           60 * time.Second,
		IdleTimeout:           120 * time.Second,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		CloseOnShutdown:       true,
		ErrorHandler:          g.transportError,
		Logger:                fasthttpLog{g.log},
	}
	return g
}

// Pipeline returns the holder of the current pipeline snapshot.
func (g *Gateway) Pipeline() *pipeline.Holder { return &g.pipeline }

// SwapGuards makes guards the guards of every request that starts from now on. Requests in
// flight finish with the guards they started with; once the last of them is done, drained runs
// (close the old guards there). It returns a channel closed after that. Safe for concurrent use,
// but callers should serialize changes so that the latest one wins.
func (g *Gateway) SwapGuards(guards pipeline.Guards, drained func()) <-chan struct{} {
	g.swapMu.Lock()
	defer g.swapMu.Unlock()
	cur := g.pipeline.Load()
	next := &pipeline.Snapshot{Version: cur.Version + 1, Servers: cur.Servers, Order: cur.Order, Guards: guards}
	cur.Drained = drained
	g.pipeline.Swap(next)
	return cur.Done()
}

// Audit hands a finished record to the audit sinks of the current guards, if any.
func (g *Gateway) Audit(ctx context.Context, record []byte) {
	snap := g.pipeline.Acquire()
	defer snap.Release()
	if a, ok := snap.Guards.(pipeline.Auditor); ok {
		a.Audit(ctx, record)
	}
}

// routeBySnapshot gives each server a strategy that asks the routing plugins of the snapshot current at
// each pick.
func (g *Gateway) routeBySnapshot(server string, builtin upstream.Strategy) upstream.Strategy {
	return &snapshotRoute{g: g, server: server, builtin: builtin}
}

type snapshotRoute struct {
	g       *Gateway
	server  string
	builtin upstream.Strategy
}

func (r *snapshotRoute) Pick(up []*upstream.Replica) int {
	snap := r.g.pipeline.Acquire()
	defer snap.Release()
	if rt, ok := snap.Guards.(pipeline.Router); ok {
		return rt.Pick(r.server, r.builtin, up)
	}
	return r.builtin.Pick(up)
}

// Serve accepts connections on ln until Shutdown. It starts servers configured to start at boot
// and the background workers first.
func (g *Gateway) Serve(ln net.Listener) error {
	snap := g.pipeline.Load()
	for _, name := range snap.Order {
		snap.Servers[name].Start(g.bg)
	}
	go g.expireSessions()
	return g.server.Serve(ln)
}

// Shutdown stops accepting connections, lets calls in flight finish until ctx ends, then closes
// the standalone SSE streams, every session and the servers' processes. Calls first, streams
// second: clients keep their stream while their last calls complete. It is safe to call twice.
func (g *Gateway) Shutdown(ctx context.Context) error {
	var err error
	g.shutdown.Do(func() {
		g.draining.Store(true)
		stopped := make(chan error, 1)
		go func() { stopped <- g.server.ShutdownWithContext(ctx) }()
		g.calls.wait(ctx)
		close(g.closing)
		g.streams.wait(ctx)
		err = <-stopped
		g.mu.Lock()
		sessions := g.sessions
		g.sessions = map[string]*clientSession{}
		g.mu.Unlock()
		var wg sync.WaitGroup
		for _, cs := range sessions {
			wg.Add(1)
			go func() { defer wg.Done(); cs.close() }()
		}
		wg.Wait()
		g.stopBG()
		snap := g.pipeline.Load()
		for _, name := range snap.Order {
			snap.Servers[name].Close()
		}
	})
	return err
}

// tracker counts work in flight. Unlike a WaitGroup it may be waited on while work still
// starts, which is what a draining server sees.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to zero; nil while n > 0
}

func (t *tracker) add() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

// wait returns when nothing is in flight or ctx ends.
func (t *tracker) wait(ctx context.Context) {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	idle := t.idle
	t.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
	}
}

// expireSessions closes sessions idle for longer than the configured timeout.
func (g *Gateway) expireSessions() {
	idle := g.cfg.SessionIdleTimeout.D()
	t := time.NewTicker(min(idle/4, time.Minute))
	defer t.Stop()
	for {
		select {
		case <-g.bg.Done():
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-idle).UnixNano()
		var stale []*clientSession
		g.mu.Lock()
		for id, at := range g.ended {
			if time.Since(at) > g.cfg.SessionMaxAge.D() {
				delete(g.ended, id) // its sealed state has expired by now
			}
		}
		for id, cs := range g.sessions {
			if cs.lastUsed.Load() < cutoff {
				delete(g.sessions, id)
				stale = append(stale, cs)
			}
		}
		g.mu.Unlock()
		for _, cs := range stale {
			g.log.Info("session expired", "session", cs.id)
			cs.close()
		}
	}
}

// handle routes an HTTP request.
func (g *Gateway) handle(ctx *fasthttp.RequestCtx) {
	p := ctx.Path()
	switch {
	case string(p) == "/healthz":
		ctx.SetStatusCode(fasthttp.StatusOK)
		ctx.SetBodyString("ok\n")
		return
	case string(p) == "/readyz":
		if !g.draining.Load() {
			ctx.SetBodyString("ready\n")
		} else {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("shutting down\n")
		}
		return
	}
	v, legacy, ok := g.viewFor(p)
	if !ok {
		httpError(ctx, fasthttp.StatusNotFound, "no MCP endpoint at "+string(p)+"; use /mcp, /mcp/{server}, /sse or /sse/{server}")
		return
	}
	if !g.hostAllowed(ctx) {
		httpError(ctx, fasthttp.StatusForbidden, "host not allowed")
		return
	}
	if !g.originAllowed(ctx) {
		httpError(ctx, fasthttp.StatusForbidden, "origin not allowed")
		return
	}
	caller, err := g.auth.Authenticate(ctx.Request.Header.Peek("Authorization"))
	if err != nil {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="portcullis"`)
		httpError(ctx, fasthttp.StatusUnauthorized, "unauthenticated")
		return
	}
	switch method := string(ctx.Method()); {
	case legacy && method == fasthttp.MethodGet:
		g.legacyStream(ctx, v, caller)
	case legacy && method == fasthttp.MethodPost:
		g.legacyPost(ctx, v, caller)
	case legacy:
		ctx.Response.Header.Set("Allow", "GET, POST")
		httpError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
	case method == fasthttp.MethodPost:
		g.post(ctx, v, caller)
	case method == fasthttp.MethodGet:
		g.get(ctx, v, caller)
	case method == fasthttp.MethodDelete:
		g.delete(ctx, v, caller)
	default:
		ctx.Response.Header.Set("Allow", "GET, POST, DELETE")
		httpError(ctx, fasthttp.StatusMethodNotAllowed, "method not allowed")
	}
}

// viewFor maps /mcp and /mcp/{server} (Streamable HTTP), and /sse and /sse/{server} (the
// 2024-11-05 HTTP+SSE transport), to what they expose.
func (g *Gateway) viewFor(p []byte) (v *view, legacy, ok bool) {
	vs := g.views.Load()
	rest, ok := bytes.CutPrefix(p, []byte("/mcp"))
	if !ok {
		if rest, ok = bytes.CutPrefix(p, []byte("/sse")); !ok {
			return nil, false, false
		}
		legacy = true
	}
	if len(rest) == 0 || string(rest) == "/" {
		return vs.aggregate, legacy, true
	}
	if rest[0] != '/' {
		return nil, false, false
	}
	v, ok = vs.single[string(bytes.TrimSuffix(rest[1:], []byte("/")))]
	return v, legacy, ok
}

// views are the endpoints of one pipeline snapshot, built once rather than per request.
type views struct {
	aggregate *view
	single    map[string]*view
}

func newViews(cfg *config.Config) *views {
	agg := &view{sep: cfg.NamespaceSeparator}
	vs := &views{aggregate: agg, single: map[string]*view{}}
	for _, s := range cfg.Servers {
		agg.servers = append(agg.servers, s.Name)
		if s.Unprefixed {
			agg.bare = s.Name
		}
		vs.single[s.Name] = &view{single: s.Name, servers: []string{s.Name}}
	}
	return vs
}

// hostAllowed defeats DNS rebinding: on a loopback listener, a request must name a loopback
// host, since a page that rebinds its own name to 127.0.0.1 still sends that name. With
// allowed_hosts configured, the Host must be one of them on any listener.
func (g *Gateway) hostAllowed(ctx *fasthttp.RequestCtx) bool {
	host := string(ctx.Host())
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if len(g.cfg.AllowedHosts) > 0 {
		return slices.Contains(g.cfg.AllowedHosts, host) || slices.Contains(g.cfg.AllowedHosts, "*")
	}
	if a, ok := ctx.LocalAddr().(*net.TCPAddr); ok && a.IP.IsLoopback() {
		return isLoopbackName(host)
	}
	return true
}

func isLoopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// originAllowed rejects browser requests from other sites (DNS rebinding): a request with an
// Origin is allowed only from a configured origin or, when none is configured, from the host it
// was sent to or a loopback origin.
func (g *Gateway) originAllowed(ctx *fasthttp.RequestCtx) bool {
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" {
		return true
	}
	if len(g.cfg.AllowedOrigins) > 0 {
		return slices.Contains(g.cfg.AllowedOrigins, origin) || slices.Contains(g.cfg.AllowedOrigins, "*")
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, string(ctx.Host())) {
		return true
	}
	return isLoopbackName(u.Hostname())
}

// session finds the client's session and checks it belongs to the caller and the endpoint. A
// session presented by another caller is treated as unknown: its existence is not confirmed.
func (g *Gateway) session(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal) (*clientSession, bool) {
	id := ctx.Request.Header.Peek("Mcp-Session-Id")
	if len(id) == 0 {
		httpError(ctx, fasthttp.StatusBadRequest, "missing Mcp-Session-Id header: send initialize first")
		return nil, false
	}
	return g.findSession(ctx, v, caller, id, false)
}

func (g *Gateway) findSession(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal, id []byte, legacy bool) (*clientSession, bool) {
	g.mu.RLock()
	cs := g.sessions[string(id)]
	g.mu.RUnlock()
	if cs == nil && !legacy {
		cs = g.resume(string(id), v, caller)
	}
	if cs == nil || cs.caller.Key != caller.Key || cs.view.single != v.single || cs.legacy != legacy || cs.stateless {
		httpError(ctx, fasthttp.StatusNotFound, "session not found")
		return nil, false
	}
	cs.touch()
	return cs, true
}

func (g *Gateway) delete(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal) {
	cs, ok := g.session(ctx, v, caller)
	if !ok {
		return
	}
	g.endSession(cs)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
}

// endSession forgets a session and closes it; its sealed id is refused from then on.
func (g *Gateway) endSession(cs *clientSession) {
	g.mu.Lock()
	delete(g.sessions, cs.id)
	if !cs.legacy && !cs.stateless {
		g.ended[cs.id] = time.Now()
	}
	g.mu.Unlock()
	cs.close()
}

// transportError answers requests fasthttp could not read: oversized bodies get 413.
func (g *Gateway) transportError(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		httpError(ctx, fasthttp.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", g.cfg.MaxBodyBytes))
		return
	}
	httpError(ctx, fasthttp.StatusBadRequest, "bad request")
}

// httpError writes an error that is not tied to a JSON-RPC request, as a JSON-RPC error with a
// null id so that MCP clients can show it.
func httpError(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(jsonrpc.AppendError(nil, nil, jsonrpc.CodeInvalidRequest, msg))
}

type fasthttpLog struct{ l *slog.Logger }

func (f fasthttpLog) Printf(format string, args ...any) { f.l.Debug(fmt.Sprintf(format, args...)) }

// Ready reports whether the gateway takes new requests (false once shutdown started).
func (g *Gateway) Ready() bool { return !g.draining.Load() }
