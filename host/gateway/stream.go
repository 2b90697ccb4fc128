package gateway

import (
	"bufio"
	"context"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/identity"
	"github.com/portcullis-mcp/portcullis/host/internal/sse"
)

// keepAlive is how often an idle SSE stream gets a comment, so that proxies and clients do not
// time it out.
const keepAlive = 15 * time.Second

// exchange carries what flows back for one client request: messages related to it while it runs,
// then its response.
type exchange struct {
	mu     sync.Mutex
	queue  [][]byte
	final  []byte
	done   bool
	signal chan struct{}
}

func newExchange() *exchange { return &exchange{signal: make(chan struct{}, 1)} }

// push queues a message for the client; it never blocks the upstream reader.
func (x *exchange) push(frame []byte) {
	x.mu.Lock()
	if !x.done {
		x.queue = append(x.queue, frame)
	}
	x.mu.Unlock()
	x.wake()
}

func (x *exchange) finish(frame []byte) {
	x.mu.Lock()
	x.final, x.done = frame, true
	x.mu.Unlock()
	x.wake()
}

func (x *exchange) wake() {
	select {
	case x.signal <- struct{}{}:
	default:
	}
}

func (x *exchange) take() (queue [][]byte, final []byte, done bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	queue, x.queue = x.queue, nil
	return queue, x.final, x.done
}

// respond waits for the first thing to send. A lone response goes back as JSON; anything else
// turns the response into an SSE stream that ends with the response. A client that goes away
// mid-stream cancels the call.
// sent is called once the response has been handed over.
func (x *exchange) respond(ctx *fasthttp.RequestCtx, cancel context.CancelFunc, sent func()) {
	<-x.signal
	queue, final, done := x.take()
	if done && len(queue) == 0 {
		writeJSON(ctx, final)
		sent()
		return
	}
	startSSE(ctx)
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer sent()
		var buf []byte
		for {
			buf = buf[:0]
			for _, f := range queue {
				buf = sse.AppendEvent(buf, "message", "", f)
			}
			if done {
				buf = sse.AppendEvent(buf, "message", "", final)
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
			case <-time.After(keepAlive):
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
					cancel()
					return
				}
			}
			queue, final, done = x.take()
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
	startSSE(ctx)
	g.streams.add()
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		defer g.streams.done()
		defer cs.out.detach()
		// An empty comment first: clients see the stream is open before anything happens.
		if _, err := w.WriteString(": stream open\n\n"); err != nil || w.Flush() != nil {
			return
		}
		var buf []byte
		tick := time.NewTicker(keepAlive)
		defer tick.Stop()
		for {
			buf = buf[:0]
			for _, f := range cs.out.take() {
				buf = sse.AppendEvent(buf, "message", "", f)
			}
			if len(buf) > 0 {
				if _, err := w.Write(buf); err != nil || w.Flush() != nil {
					return
				}
				cs.touch()
			}
			select {
			case <-cs.out.signal:
			case <-cs.out.closed:
				return
			case <-g.closing:
				return
			case <-tick.C:
				if _, err := w.WriteString(": keep-alive\n\n"); err != nil || w.Flush() != nil {
					return
				}
				cs.touch() // a session with a live stream is not idle
			}
		}
	})
}
