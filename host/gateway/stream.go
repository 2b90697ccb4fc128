package gateway

import (
	"bufio"
	"bytes"
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/internal/sse"
)

// keepAlive is how often an idle SSE stream gets a comment, so that proxies and clients do not
// time it out, and so that a stream whose client left is noticed.
const keepAlive = 15 * time.Second

// sink receives the messages a server sends in relation to a call while it runs.
type sink interface{ push(frame []byte) }

// exchange carries what flows back for one POST: messages related to its requests while they
// run, then their responses. A POST holds one request, or several in a batch.
type exchange struct {
	mu        sync.Mutex
	queue     [][]byte // related messages not yet written
	finals    [][]byte // responses not yet written
	want      int      // responses still to come
	batch     bool
	stream    bool // a server answered on an SSE stream: so does the gateway, if the client accepts it
	signal    chan struct{}
	keepAlive time.Duration
}

func (g *Gateway) newExchange(requests int, batch bool) *exchange {
	return &exchange{want: requests, batch: batch, signal: make(chan struct{}, 1), keepAlive: g.keepAlive}
}

// push queues a message for the client; it never blocks the upstream reader.
func (x *exchange) push(frame []byte) {
	x.mu.Lock()
	if x.want > 0 {
		x.queue = append(x.queue, frame)
	}
	x.mu.Unlock()
	x.wake()
}

// finish adds one response.
func (x *exchange) finish(frame []byte) {
	x.mu.Lock()
	x.finals = append(x.finals, frame)
	x.want--
	x.mu.Unlock()
	x.wake()
}

func (x *exchange) preferStream() {
	x.mu.Lock()
	x.stream = true
	x.mu.Unlock()
}

func (x *exchange) wake() {
	select {
	case x.signal <- struct{}{}:
	default:
	}
}

// take returns what is ready to write, related messages first.
func (x *exchange) take() (out [][]byte, done bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	out = append(x.queue, x.finals...)
	x.queue, x.finals = nil, nil
	return out, x.want == 0
}

// respond waits for the first thing to send. When only responses come back they go as JSON (an
// array for a batch); anything else turns the response into an SSE stream that ends with the
// last response, as does a call the server answered on a stream when the client accepts one. A
// client that goes away mid-stream cancels the calls. sent is called once the response has been
// handed over.
func (x *exchange) respond(ctx *fasthttp.RequestCtx, cancel context.CancelFunc, sent func()) {
	acceptsSSE := bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte("text/event-stream"))
	// Wait until there is either something other than responses to send, or every response.
	var plain bool
	for {
		<-x.signal
		x.mu.Lock()
		related, pending := len(x.queue) > 0 || (x.stream && acceptsSSE), x.want > 0
		x.mu.Unlock()
		if plain = !related && !pending; plain || related {
			break
		}
	}
	if plain {
		out, _ := x.take()
		if !x.batch {
			writeJSON(ctx, out[0])
		} else {
			body := []byte{'['}
			for i, f := range out {
				if i > 0 {
					body = append(body, ',')
				}
				body = append(body, f...)
			}
			writeJSON(ctx, append(body, ']'))
		}
		sent()
		return
	}
	startSSE(ctx)
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer sent()
		tick := time.NewTicker(x.keepAlive)
		defer tick.Stop()
		var buf []byte
		for {
			out, done := x.take()
			buf = buf[:0]
			for _, f := range out {
				buf = sse.AppendEvent(buf, "message", "", f)
			}
			if _, err := w.Write(buf); err != nil || w.Flush() != nil {
				cancel()
				return
			}
			if done {
				return
			}
			select {
			case <-x.signal:
			case <-tick.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
					cancel()
					return
				}
			}
		}
	})
}

func startSSE(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("text/event-stream")
	ctx.Response.Header.Set("Cache-Control", "no-cache")
	ctx.Response.Header.Set("X-Accel-Buffering", "no")
}

// get opens the standalone stream that carries what servers send outside any request:
// list_changed notifications, logging, and their requests to the client.
func (g *Gateway) get(ctx *fasthttp.RequestCtx, v *view, caller identity.Principal) {
	cs, ok := g.session(ctx, v, caller)
	if !ok {
		return
	}
	if !cs.out.attach() {
		httpError(ctx, fasthttp.StatusConflict, "this session already has a stream open")
		return
	}
	if last, err := strconv.ParseInt(string(ctx.Request.Header.Peek("Last-Event-ID")), 10, 64); err == nil {
		cs.out.replay(last) // a reconnecting client gets what it missed
	}
	startSSE(ctx)
	g.streams.add()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer g.streams.done()
		defer cs.out.detach()
		// A comment first: clients see the stream is open before anything happens.
		g.pump(w, cs, []byte(": stream open\n\n"), nil, nil)
	})
}

// pump writes first, then the session's queued messages as they come (each passed through
// shape, which may drop one by returning nil), until the session or the gateway closes, stop is
// closed (then it reports true) or the client goes away. Keep-alive comments keep idle proxies
// from cutting the stream.
func (g *Gateway) pump(w *bufio.Writer, cs *clientSession, first []byte, shape func([]byte) []byte, stop <-chan struct{}) bool {
	if _, err := w.Write(first); err != nil || w.Flush() != nil {
		return false
	}
	var buf []byte
	tick := time.NewTicker(g.keepAlive)
	defer tick.Stop()
	for {
		buf = buf[:0]
		for _, e := range cs.out.take() {
			f := e.frame
			if shape != nil {
				if f = shape(f); f == nil {
					continue
				}
			}
			buf = sse.AppendEvent(buf, "message", strconv.FormatInt(e.id, 10), f)
		}
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil || w.Flush() != nil {
				return false
			}
			cs.touch()
		}
		select {
		case <-cs.out.signal:
		case <-stop:
			return true
		case <-cs.out.closed:
			return false
		case <-g.closing:
			return false
		case <-tick.C:
			if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
				return false
			}
			cs.touch() // a session with a live stream is not idle
		}
	}
}
