package mcpclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
)

// legacySession speaks the HTTP+SSE transport of protocol 2024-11-05: one GET
// stream per session carries every answer, matched to waiting callers by id.
type legacySession struct {
	e      *Endpoint
	nextID atomic.Int64
	mu     sync.Mutex // serialises opening the stream
	conn   atomic.Pointer[legacyConn]
}

type legacyConn struct {
	postURL string
	cancel  context.CancelFunc

	mu      sync.Mutex
	pending map[string]*waiter
	err     error // set once the stream has ended
}

type waiter struct {
	ch         chan Outcome
	wantResult bool
	result     []byte // a copy, when wantResult
}

func (s *legacySession) Open(sc *Scratch, deadline time.Time) Outcome {
	if s.conn.Load() != nil {
		return Outcome{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn.Load() != nil {
		return Outcome{}
	}
	c, out := s.connect(deadline)
	if out.Kind != OK {
		return out
	}
	result, out := s.call(sc, c, initializeCall(s.e.version), deadline, true)
	if out.Kind == OK {
		if _, err := negotiatedVersion(result); err != nil {
			out = fail(Garbage, err)
		}
	}
	if out.Kind == OK {
		_, out = s.call(sc, c, initializedCall, deadline, false)
	}
	if out.Kind != OK {
		c.cancel()
		return out
	}
	s.conn.Store(c)
	return Outcome{}
}

func (s *legacySession) Do(sc *Scratch, c *Call, deadline time.Time) Outcome {
	if out := s.Open(sc, deadline); out.Kind != OK {
		return out
	}
	conn := s.conn.Load()
	if conn == nil { // the stream ended between Open and here
		return fail(StreamClosed, errors.New("sse stream closed"))
	}
	_, out := s.call(sc, conn, c, deadline, false)
	return out
}

func (s *legacySession) Close() {
	if c := s.conn.Swap(nil); c != nil {
		c.cancel()
	}
}

// connect opens the GET stream and waits for its endpoint event.
func (s *legacySession) connect(deadline time.Time) (*legacyConn, Outcome) {
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(time.Until(deadline), cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.e.url, nil)
	if err != nil {
		cancel()
		return nil, fail(Network, fmt.Errorf("sse stream request: %w", err))
	}
	req.Header.Set("Accept", "text/event-stream")
	for _, h := range s.e.headers {
		req.Header.Set(h.Name, h.Value)
	}
	resp, err := s.e.stream.Do(req)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, fail(Timeout, fmt.Errorf("sse stream: %w", err))
		}
		return nil, classify(err)
	}
	c := &legacyConn{cancel: cancel, pending: make(map[string]*waiter)}
	failWith := func(out Outcome) (*legacyConn, Outcome) {
		cancel()
		resp.Body.Close()
		return nil, out
	}
	if resp.StatusCode != http.StatusOK {
		return failWith(Outcome{Kind: HTTPStatus, Code: resp.StatusCode, Err: fmt.Errorf("sse stream: http %d", resp.StatusCode)})
	}
	events := &eventReader{br: bufio.NewReader(resp.Body)}
	event, data, err := events.next()
	if err != nil {
		if ctx.Err() != nil {
			return failWith(fail(Timeout, errors.New("sse stream: no endpoint event before the deadline")))
		}
		out := classify(err)
		out.Err = fmt.Errorf("sse stream before the endpoint event: %w", err)
		return failWith(out)
	}
	if string(event) != "endpoint" {
		return failWith(fail(Garbage, fmt.Errorf("sse stream: first event is %q, want endpoint", event)))
	}
	post, err := url.Parse(string(bytes.TrimSpace(data)))
	base, _ := url.Parse(s.e.url) // parsed before, in NewEndpoint
	if err != nil {
		return failWith(fail(Garbage, fmt.Errorf("sse endpoint event: %w", err)))
	}
	post = base.ResolveReference(post)
	if post.Host != base.Host || post.Scheme != base.Scheme {
		return failWith(fail(Garbage, fmt.Errorf("sse endpoint %s is not on %s", post, base.Host)))
	}
	if !timer.Stop() {
		return failWith(fail(Timeout, errors.New("sse stream: no endpoint event before the deadline")))
	}
	c.postURL = post.String()
	go s.read(c, events, resp)
	return c, Outcome{}
}

// read delivers each answer on the stream to the caller waiting for its id.
func (s *legacySession) read(c *legacyConn, events *eventReader, resp *http.Response) {
	var err error
	for {
		var event, data []byte
		event, data, err = events.next()
		if err != nil {
			break
		}
		if len(event) > 0 && string(event) != "message" {
			continue
		}
		var env jsonrpc.Envelope
		if jsonrpc.Decode(data, &env) != nil || env.Kind != jsonrpc.KindResponse {
			continue // server requests and notifications; a garbled answer leaves its caller to time out
		}
		id := env.ID.In(data)
		c.mu.Lock()
		w := c.pending[string(id)]
		delete(c.pending, string(id))
		c.mu.Unlock()
		if w == nil {
			continue
		}
		out := answer(data, &env, id, nil)
		if out.Kind == OK && w.wantResult {
			w.result = bytes.Clone(env.Result.In(data))
		}
		w.ch <- out
	}
	resp.Body.Close()
	s.conn.CompareAndSwap(c, nil)
	c.mu.Lock()
	c.err = fmt.Errorf("sse stream ended: %w", err)
	for id, w := range c.pending {
		w.ch <- fail(StreamClosed, c.err)
		delete(c.pending, id)
	}
	c.mu.Unlock()
}

// call POSTs one message and, unless it is a notification, waits for its
// answer on the stream.
func (s *legacySession) call(sc *Scratch, c *legacyConn, call *Call, deadline time.Time, wantResult bool) ([]byte, Outcome) {
	sc.id = strconv.AppendInt(sc.id[:0], s.nextID.Add(1), 10)
	var w *waiter
	if !call.notification {
		w = &waiter{ch: make(chan Outcome, 1), wantResult: wantResult}
		c.mu.Lock()
		err := c.err
		if err == nil {
			c.pending[string(sc.id)] = w
		}
		c.mu.Unlock()
		if err != nil {
			return nil, fail(StreamClosed, err)
		}
	}
	forget := func() {
		c.mu.Lock()
		delete(c.pending, string(sc.id))
		c.mu.Unlock()
	}

	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	s.e.setHeaders(req, c.postURL)
	sc.body = call.appendBody(sc.body[:0], sc.id)
	req.SetBodyRaw(sc.body)
	err := s.e.hc.DoDeadline(req, resp, deadline)
	status := resp.StatusCode()
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
	if err != nil {
		forget()
		return nil, classify(err)
	}
	if status < 200 || status > 299 {
		forget()
		return nil, Outcome{Kind: HTTPStatus, Code: status, Err: fmt.Errorf("http %d on sse message post", status)}
	}
	if w == nil {
		return nil, Outcome{}
	}
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case out := <-w.ch:
		return w.result, out
	case <-timer.C:
		forget()
		return nil, fail(Timeout, errors.New("no answer on the sse stream before the deadline"))
	}
}
