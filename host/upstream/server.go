package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/config"
)

// Replica is one way to reach a server, with its live state.
type Replica struct {
	Index  int
	Spec   config.Replica
	client *http.Client
	fast   *fasthttp.Client

	inflight  atomic.Int64
	downUntil atomic.Int64 // unix nanoseconds; the replica is skipped until then
	backoff   atomic.Int64 // current restart/ejection backoff in nanoseconds

	mu     sync.Mutex
	shared *Session // the replica's one session when the server is shared
}

// InFlight is the number of calls running on the replica.
func (r *Replica) InFlight() int64 { return r.inflight.Load() }

// Up reports whether the replica is not ejected.
func (r *Replica) Up(now time.Time) bool { return r.downUntil.Load() <= now.UnixNano() }

// Name describes the replica for logs and errors.
func (r *Replica) Name() string {
	if r.Spec.URL != "" {
		return r.Spec.URL
	}
	if r.Spec.Command != "" {
		return r.Spec.Command
	}
	return r.Spec.Transport
}

// Server is a configured upstream server with its replicas. It is safe for concurrent use.
type Server struct {
	Name     string
	Config   config.Server
	Replicas []*Replica
	strategy Strategy
	env      Env

	annotations sync.Map // tool name -> bool: safe to retry (read-only or idempotent)
}

// Env carries what servers need from the gateway.
type Env struct {
	Log *slog.Logger
	// Demo serves the built-in demo server on a pair of pipes.
	Demo func(r io.ReadCloser, w io.WriteCloser)
	// Route, when not nil, may replace a server's built-in strategy (routing plugins).
	Route func(server string, builtin Strategy) Strategy
}

// NewServer prepares a server from its configuration; nothing is started.
func NewServer(cfg config.Server, env Env) *Server {
	if env.Log == nil {
		env.Log = slog.Default()
	}
	s := &Server{Name: cfg.Name, Config: cfg, strategy: NewStrategy(cfg.Strategy), env: env}
	if env.Route != nil {
		s.strategy = env.Route(cfg.Name, s.strategy)
	}
	for i, rc := range cfg.Replicas {
		r := &Replica{Index: i, Spec: rc}
		if rc.Transport == config.TransportHTTP || rc.Transport == config.TransportSSE {
			r.client = NewHTTPClient(cfg.ConnectTimeout.D())
			r.fast = NewFastClient(cfg.ConnectTimeout.D())
		}
		s.Replicas = append(s.Replicas, r)
	}
	return s
}

// Open picks a replica (skipping those in tried, and adding the one it picks) and opens a
// session on it. It returns the replica's shared session when the server is configured as shared.
func (s *Server) Open(ctx context.Context, opts Options, tried map[int]bool) (*Session, error) {
	r, err := s.pick(ctx, tried)
	if err != nil {
		return nil, err
	}
	if tried != nil {
		tried[r.Index] = true
	}
	if s.Config.Session == "shared" {
		return s.sharedSession(ctx, r, opts)
	}
	return s.open(ctx, r, opts)
}

func (s *Server) sharedSession(ctx context.Context, r *Replica, opts Options) (*Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shared != nil && r.shared.Alive() {
		return r.shared, nil
	}
	// A shared session serves many clients, so it offers no client-specific capabilities.
	opts.ClientCapabilities = nil
	sess, err := s.open(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	r.shared = sess
	return sess, nil
}

func (s *Server) open(ctx context.Context, r *Replica, opts Options) (*Session, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Config.ConnectTimeout.D())
	defer cancel()
	sess, err := Open(ctx, s.Name, s.dialer(r), opts)
	if err != nil {
		s.fail(r, err)
		return nil, fmt.Errorf("replica %s: %w", r.Name(), err)
	}
	sess.Replica = r
	r.backoff.Store(0)
	go func() {
		<-sess.Done()
		if !sess.closing.Load() {
			s.fail(r, sess.Err())
		}
	}()
	return sess, nil
}

func (s *Server) dialer(r *Replica) Dialer {
	spec := HTTPSpec{Server: s.Name, URL: r.Spec.URL, Headers: s.Config.Headers, Client: r.client, Fast: r.fast, Log: s.env.Log}
	switch r.Spec.Transport {
	case config.TransportStdio:
		return func(_ context.Context, inbox Inbox) (Transport, error) {
			return DialStdio(StdioSpec{Server: s.Name, Command: r.Spec.Command, Args: r.Spec.Args, Env: r.Spec.Env, Dir: r.Spec.Dir, Log: s.env.Log}, inbox)
		}
	case config.TransportSSE:
		return func(ctx context.Context, inbox Inbox) (Transport, error) { return DialSSE(ctx, spec, inbox) }
	case config.TransportDemo:
		return func(_ context.Context, inbox Inbox) (Transport, error) {
			if s.env.Demo == nil {
				return nil, unavailable("no demo server in this build")
			}
			return DialPipe(s.env.Demo, inbox), nil
		}
	default:
		return func(_ context.Context, inbox Inbox) (Transport, error) { return DialStreamable(spec, inbox), nil }
	}
}

// fail ejects a replica for a backoff that doubles with each consecutive failure.
func (s *Server) fail(r *Replica, err error) {
	b := time.Duration(r.backoff.Load())
	if b == 0 {
		b = s.Config.Restart.Initial.D()
	} else {
		b = min(2*b, s.Config.Restart.Max.D())
	}
	r.backoff.Store(int64(b))
	r.downUntil.Store(time.Now().Add(b).UnixNano())
	s.env.Log.Warn("upstream replica failed", "server", s.Name, "replica", r.Name(), "retry_in", b, "err", err)
}

// pick chooses a replica per the strategy among those that are up and not yet tried. When all
// are down it waits for the first to come back, as long as ctx allows.
func (s *Server) pick(ctx context.Context, tried map[int]bool) (*Replica, error) {
	var buf [8]*Replica
	for {
		now := time.Now()
		up := buf[:0]
		var next *Replica
		for _, r := range s.Replicas {
			if tried[r.Index] {
				continue
			}
			if r.Up(now) {
				up = append(up, r)
			} else if next == nil || r.downUntil.Load() < next.downUntil.Load() {
				next = r
			}
		}
		if len(up) > 0 {
			return up[s.strategy.Pick(up)], nil
		}
		if next == nil {
			return nil, unavailable("server %s: no replica left to try", s.Name)
		}
		wait := time.Until(time.Unix(0, next.downUntil.Load()))
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, unavailable("server %s: every replica is down (next retry in %v)", s.Name, wait.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return nil, unavailable("server %s: %v", s.Name, ctx.Err())
		case <-time.After(wait):
		}
	}
}

// NoteTools records which tools are safe to retry on another replica after a failure that may
// have reached the server: those annotated read-only or idempotent.
func (s *Server) NoteTools(tools []ToolInfo) {
	for _, t := range tools {
		s.annotations.Store(t.Name, t.Annotations.ReadOnlyHint || t.Annotations.IdempotentHint)
	}
}

// SafeToRetry reports whether the tool was annotated read-only or idempotent.
func (s *Server) SafeToRetry(tool string) bool {
	v, ok := s.annotations.Load(tool)
	return ok && v.(bool)
}

// ToolInfo is the part of a listed tool the gateway acts on.
type ToolInfo struct {
	Name        string `json:"name"`
	Annotations struct {
		ReadOnlyHint   bool `json:"readOnlyHint"`
		IdempotentHint bool `json:"idempotentHint"`
	} `json:"annotations"`
}

// Timeout returns the timeout for a call of tool: the first matching tool_timeouts glob, else the
// server's timeout.
func (s *Server) Timeout(tool string) time.Duration {
	for glob, d := range s.Config.ToolTimeouts {
		if ok, _ := path.Match(glob, tool); ok {
			return d.D()
		}
	}
	return s.Config.Timeout.D()
}

// Start opens shared sessions of servers configured to start at boot and runs health checks of
// URL replicas until ctx ends.
func (s *Server) Start(ctx context.Context) {
	if s.Config.Start == "boot" {
		go func() {
			sess, err := s.Open(ctx, Options{}, nil)
			if err != nil {
				s.env.Log.Warn("upstream not available at boot", "server", s.Name, "err", err)
				return
			}
			if s.Config.Session != "shared" {
				sess.Close() // proved the server starts; per-client sessions open their own
			}
		}()
	}
	go s.healthLoop(ctx)
}

// healthLoop probes URL replicas: one that stops accepting connections is ejected before a call
// has to find out, and one that comes back is readmitted.
func (s *Server) healthLoop(ctx context.Context) {
	t := time.NewTicker(s.Config.HealthInterval.D())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, r := range s.Replicas {
			if r.Spec.URL == "" {
				continue
			}
			if err := probe(ctx, r.Spec.URL, s.Config.ConnectTimeout.D()); err != nil {
				if r.Up(time.Now()) {
					s.fail(r, err)
				}
			} else if !r.Up(time.Now()) {
				r.downUntil.Store(0)
				s.env.Log.Info("upstream replica back", "server", s.Name, "replica", r.Name())
			}
		}
	}
}

func probe(ctx context.Context, rawURL string, timeout time.Duration) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return err
	}
	return c.Close()
}

// Close ends the shared sessions.
func (s *Server) Close() {
	for _, r := range s.Replicas {
		r.mu.Lock()
		if r.shared != nil {
			r.shared.Close()
			r.shared = nil
		}
		r.mu.Unlock()
	}
}

// IsUnavailable reports whether err means the call never reached a server.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

// Shared returns the replica's shared session, or nil.
func (r *Replica) Shared() *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shared
}
