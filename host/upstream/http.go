package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/internal/sse"
	"github.com/portcullis-mcp/portcullis/host/telemetry"
)

// HTTPSpec says how to reach an HTTP server (Streamable HTTP or legacy SSE).
type HTTPSpec struct {
	Server  string
	URL     string
	Headers map[string]string // configured headers, e.g. the upstream's own Authorization
	Client  *http.Client      // for streams (legacy SSE, the Streamable HTTP GET stream); pooled per replica
	Fast    *fasthttp.Client  // for Streamable HTTP POSTs; pooled per replica
	Log     *slog.Logger
}

// NewHTTPClient returns a client tuned for many concurrent calls to one host.
func NewHTTPClient(connectTimeout time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil, // a gateway must not leak calls through an ambient proxy
		DialContext:         (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}}
}

// streamable is the client side of the Streamable HTTP transport (2025-03-26 and later).
type streamable struct {
	closer
	spec    HTTPSpec
	inbox   Inbox
	ctx     context.Context // cancelled by Close: ends streams still being read
	cancel  context.CancelFunc
	mu      sync.Mutex
	session string // Mcp-Session-Id from the initialize response
	version string // negotiated protocol version
	once    sync.Once
	streams sync.WaitGroup
}

// DialStreamable returns a transport that POSTs each frame to spec.URL.
func DialStreamable(spec HTTPSpec, inbox Inbox) Transport {
	ctx, cancel := context.WithCancel(context.Background())
	return &streamable{closer: newCloser(), spec: spec, inbox: inbox, ctx: ctx, cancel: cancel}
}

func (t *streamable) setProtocolVersion(v string) {
	t.mu.Lock()
	t.version = v
	t.mu.Unlock()
}

func (t *streamable) headers(h http.Header) { t.setHeaders(h.Set) }

// setHeaders applies the configured headers and the session's own.
func (t *streamable) setHeaders(set func(k, v string)) {
	for k, v := range t.spec.Headers {
		set(k, v)
	}
	t.mu.Lock()
	if t.session != "" {
		set("Mcp-Session-Id", t.session)
	}
	if t.version != "" {
		set("Mcp-Protocol-Version", t.version)
	}
	t.mu.Unlock()
}

func (t *streamable) Send(ctx context.Context, frame []byte, id int64) error {
	select {
	case <-t.done:
		return unavailable("%v", t.Err())
	default:
	}
	if id == 0 {
		// Notifications and responses are answered with 202 at once.
		return t.post(ctx, frame, 0)
	}
	// A request's answer may take as long as the call runs, and the caller must stay free to
	// cancel it: the exchange runs on its own, and a failure reaches the call through Fail with
	// its kind (unavailable: never reached the server; closed: may have).
	go func() {
		if err := t.post(ctx, frame, id); err != nil {
			t.inbox.Fail(id, err)
		}
	}()
	return nil
}

// callDeadline bounds a request without a deadline of its own.
const callDeadline = 10 * time.Minute

// post sends one frame with the fasthttp client and delivers what comes back. For a request, it
// returns when the answer has been read (a JSON body, or the whole SSE stream).
func (t *streamable) post(ctx context.Context, frame []byte, id int64) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(t.spec.URL)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	t.setHeaders(req.Header.Set)
	if tp := telemetry.Traceparent(ctx); tp != "" {
		req.Header.Set("traceparent", tp)
	}
	req.SetBodyRaw(frame)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(callDeadline)
	}
	if err := t.spec.Fast.DoDeadline(req, resp, deadline); err != nil {
		return classifyFastError(err)
	}
	if sid := resp.Header.Peek("Mcp-Session-Id"); len(sid) > 0 {
		t.mu.Lock()
		if t.session == "" {
			t.session = string(sid)
		}
		t.mu.Unlock()
	}
	status := resp.StatusCode()
	switch {
	case status == fasthttp.StatusNotFound && t.hasSession():
		// The server forgot our session: this transport is finished, the caller reopens.
		err := fmt.Errorf("%w: session expired (404)", ErrClosed)
		t.end(err)
		return err
	case status == fasthttp.StatusAccepted:
		return nil
	case status/100 != 2:
		msg := snippet(resp.Body())
		if status == fasthttp.StatusServiceUnavailable || status == fasthttp.StatusBadGateway {
			return unavailable("HTTP %d: %s", status, msg)
		}
		return fmt.Errorf("%w: HTTP %d: %s", ErrProtocol, status, msg)
	}
	ct, _, _ := mime.ParseMediaType(string(resp.Header.ContentType()))
	switch ct {
	case "text/event-stream":
		body := resp.BodyStream()
		if body == nil { // a short stream fully read with the headers
			body = bytes.NewReader(resp.Body())
		}
		t.readStream(io.NopCloser(body), id)
		resp.CloseBodyStream()
		if id != 0 {
			// A stream that ends without the answer loses it.
			return fmt.Errorf("%w: response stream ended without an answer", ErrClosed)
		}
		return nil
	case "application/json":
		body := resp.Body()
		if len(body) > maxFrame {
			return fmt.Errorf("%w: response over %d bytes", ErrProtocol, maxFrame)
		}
		if len(bytes.TrimSpace(body)) > 0 {
			t.inbox.Receive(body, id, false)
		}
		return nil
	default:
		return fmt.Errorf("%w: unexpected content type %q: %s", ErrProtocol, ct, snippet(resp.Body()))
	}
}

func snippet(b []byte) string {
	if len(b) > 256 {
		b = b[:256]
	}
	return string(bytes.TrimSpace(b))
}

// classifyFastError separates "never reached the server" from failures after the request may
// have been read.
func classifyFastError(err error) error {
	if errors.Is(err, fasthttp.ErrDialTimeout) || errors.Is(err, fasthttp.ErrNoFreeConns) {
		return unavailable("%v", err)
	}
	return classifyHTTPError(err)
}

// NewFastClient returns the client for POSTs to Streamable HTTP servers: pooled connections and
// streamed bodies, so an SSE answer is read as it comes.
func NewFastClient(connectTimeout time.Duration) *fasthttp.Client {
	return &fasthttp.Client{
		Name:                     "portcullis",
		NoDefaultUserAgentHeader: true,
		StreamResponseBody:       true,
		MaxConnsPerHost:          1024,
		MaxIdleConnDuration:      4 * time.Second, // under Node.js's 5 s keep-alive, the shortest common one
		MaxResponseBodySize:      maxFrame,
		DisablePathNormalizing:   true,
		Dial: func(addr string) (net.Conn, error) {
			return fasthttp.DialTimeout(addr, connectTimeout)
		},
		// An idle pooled connection the server closed fails before anything was read; trying once
		// more on a fresh connection cannot repeat a call the server saw.
		RetryIfErr: func(_ *fasthttp.Request, attempts int, err error) (bool, bool) {
			return false, attempts < 2 && errors.Is(err, fasthttp.ErrConnectionClosed)
		},
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (t *streamable) hasSession() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.session != ""
}

func (t *streamable) readStream(body io.ReadCloser, related int64) {
	defer body.Close()
	r := sse.NewReader(body, maxFrame)
	for {
		ev, err := r.Next()
		if err != nil {
			return
		}
		if ev.Name == "message" && len(ev.Data) > 0 {
			t.inbox.Receive(ev.Data, related, true)
		}
	}
}

// startSession opens the standalone GET stream for server-initiated messages. Servers that do not
// offer one answer 405, which is fine.
func (t *streamable) startSession(ctx context.Context) {
	opened := make(chan struct{})
	var once sync.Once
	ready := func() { once.Do(func() { close(opened) }) }
	t.streams.Add(1)
	go func() {
		defer t.streams.Done()
		defer ready()
		backoff := 250 * time.Millisecond
		for t.ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(t.ctx, http.MethodGet, t.spec.URL, nil)
			req.Header.Set("Accept", "text/event-stream")
			t.headers(req.Header)
			resp, err := t.spec.Client.Do(req)
			if err == nil && resp.StatusCode == http.StatusOK {
				backoff = 250 * time.Millisecond
				ready()
				t.readStream(resp.Body, 0)
			} else if err == nil {
				drain(resp)
				if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound {
					return
				}
			}
			ready() // a stream that failed to open is retried in the background
			select {
			case <-t.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 10*time.Second)
		}
	}()
	select {
	case <-opened:
	case <-ctx.Done():
	}
}

func (t *streamable) Close() error {
	t.once.Do(func() {
		t.mu.Lock()
		sid := t.session
		t.mu.Unlock()
		if sid != "" {
			// Tell the server the session is over; a server that does not care answers 405.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, t.spec.URL, nil)
			t.headers(req.Header)
			if resp, err := t.spec.Client.Do(req); err == nil {
				drain(resp)
			}
			cancel()
		}
		t.cancel()
		t.streams.Wait()
		t.end(fmt.Errorf("%w: closed by gateway", ErrClosed))
	})
	return nil
}

// end closes Done once, whichever of Close or a 404 comes first.
func (t *streamable) end(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.done:
	default:
		t.finish(err)
	}
}

// sseTransport is the client side of the 2024-11-05 HTTP+SSE transport: one GET stream carries
// every server message, and frames are POSTed to the endpoint the stream announces.
type sseTransport struct {
	closer
	spec     HTTPSpec
	endpoint string
	cancel   context.CancelFunc
	once     sync.Once
}

// DialSSE opens the event stream and waits for its endpoint event.
func DialSSE(ctx context.Context, spec HTTPSpec, inbox Inbox) (Transport, error) {
	sctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, spec.URL, nil)
	if err != nil {
		cancel()
		return nil, unavailable("%v", err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range spec.Headers {
		req.Header.Set(k, v)
	}
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := spec.Client.Do(req)
		got <- result{resp, err}
	}()
	var resp *http.Response
	select {
	case r := <-got:
		if r.err != nil {
			cancel()
			return nil, classifyHTTPError(r.err)
		}
		resp = r.resp
	case <-ctx.Done():
		cancel()
		return nil, unavailable("connect: %v", ctx.Err())
	}
	if resp.StatusCode != http.StatusOK {
		msg := readSnippet(resp)
		cancel()
		return nil, unavailable("GET %s: HTTP %d: %s", spec.URL, resp.StatusCode, msg)
	}
	r := sse.NewReader(resp.Body, maxFrame)
	endpoint := make(chan string, 1)
	t := &sseTransport{closer: newCloser(), spec: spec, cancel: cancel}
	go func() {
		defer resp.Body.Close()
		for {
			ev, err := r.Next()
			if err != nil {
				t.finish(fmt.Errorf("%w: event stream ended: %v", ErrClosed, err))
				return
			}
			switch ev.Name {
			case "endpoint":
				select {
				case endpoint <- string(ev.Data):
				default:
				}
			case "message":
				inbox.Receive(ev.Data, 0, true)
			}
		}
	}()
	select {
	case ep := <-endpoint:
		base, _ := url.Parse(spec.URL)
		ref, err := url.Parse(ep)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("%w: bad endpoint %q", ErrProtocol, ep)
		}
		u := base.ResolveReference(ref)
		if u.Host != base.Host {
			// A stream must not redirect our frames (and configured credentials) to another host.
			cancel()
			return nil, fmt.Errorf("%w: endpoint %q is on another host", ErrProtocol, ep)
		}
		t.endpoint = u.String()
		return t, nil
	case <-t.done:
		return nil, unavailable("%v", t.err)
	case <-ctx.Done():
		cancel()
		return nil, unavailable("waiting for endpoint event: %v", ctx.Err())
	}
}

func (t *sseTransport) Send(ctx context.Context, frame []byte, _ int64) error {
	select {
	case <-t.done:
		return unavailable("%v", t.Err())
	default:
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.endpoint, bytes.NewReader(frame))
	if err != nil {
		return unavailable("%v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range t.spec.Headers {
		req.Header.Set(k, v)
	}
	resp, err := t.spec.Client.Do(req)
	if err != nil {
		return classifyHTTPError(err)
	}
	if resp.StatusCode/100 != 2 {
		msg := readSnippet(resp)
		return fmt.Errorf("%w: HTTP %d: %s", ErrProtocol, resp.StatusCode, msg)
	}
	drain(resp)
	return nil
}

func (t *sseTransport) Close() error {
	t.once.Do(t.cancel)
	<-t.done
	return nil
}

// classifyHTTPError separates "never reached the server" (safe to retry elsewhere) from failures
// after the request may have been read.
func classifyHTTPError(err error) error {
	var op *net.OpError
	if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial") {
		return unavailable("%v", err)
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return unavailable("%v", err)
	}
	return fmt.Errorf("%w: %v", ErrClosed, err)
}

func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func readSnippet(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	resp.Body.Close()
	return string(bytes.TrimSpace(b))
}

// mergeCancel returns a context that ends when either parent ends.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}
