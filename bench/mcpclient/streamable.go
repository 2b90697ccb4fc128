package mcpclient

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
)

// Scratch holds the buffers of one goroutine's requests so that the hot path
// does not allocate. It must not be shared between goroutines.
type Scratch struct {
	events eventReader
	env    jsonrpc.Envelope
	body   []byte
	id     []byte
}

// NewScratch returns buffers for one goroutine.
func NewScratch() *Scratch {
	return &Scratch{events: eventReader{br: bufio.NewReaderSize(nil, 16<<10)}, body: make([]byte, 0, 4096)}
}

// maxBodySize bounds a JSON response body.
const maxBodySize = 64 << 20

const sessionHeader = "Mcp-Session-Id"

// sessionState is what initialize established; it is replaced, never
// mutated, so requests read it without locks.
type sessionState struct {
	id      string // Mcp-Session-Id, empty when the server keeps none
	version string // MCP-Protocol-Version header value, empty before initialize
}

type streamSession struct {
	e      *Endpoint
	nextID atomic.Int64
	mu     sync.Mutex // serialises (re)initialisation
	state  atomic.Pointer[sessionState]
}

func (s *streamSession) Open(sc *Scratch, deadline time.Time) Outcome {
	if s.state.Load() != nil {
		return Outcome{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Load() != nil {
		return Outcome{}
	}
	if s.e.Stateless() {
		s.state.Store(&sessionState{version: s.e.version})
		return Outcome{}
	}
	var st sessionState
	out := s.roundTrip(sc, &sessionState{}, initializeCall(s.e.version), deadline, func(h *fasthttp.ResponseHeader, result []byte) error {
		st.id = string(h.Peek(sessionHeader))
		var err error
		st.version, err = negotiatedVersion(result)
		return err
	})
	if out.Kind != OK {
		return out
	}
	if out = s.roundTrip(sc, &st, initializedCall, deadline, nil); out.Kind != OK {
		return out
	}
	s.state.Store(&st)
	return Outcome{}
}

func (s *streamSession) Do(sc *Scratch, c *Call, deadline time.Time) Outcome {
	if out := s.Open(sc, deadline); out.Kind != OK {
		return out
	}
	return s.roundTrip(sc, s.state.Load(), c, deadline, nil)
}

func (s *streamSession) Close() {
	st := s.state.Swap(nil)
	if st == nil || st.id == "" {
		return
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	s.e.setHeaders(req, s.e.url)
	req.Header.SetMethod(fasthttp.MethodDelete)
	req.Header.Set(sessionHeader, st.id)
	req.Header.Set(versionHeader, st.version)
	_ = s.e.hc.DoTimeout(req, nil, time.Second) // best effort: the server may time the session out instead
}

const versionHeader = "MCP-Protocol-Version"

// roundTrip POSTs c and waits for the answer carrying its id. onResult, when
// set, sees the response headers and the raw result.
func (s *streamSession) roundTrip(sc *Scratch, st *sessionState, c *Call, deadline time.Time, onResult func(*fasthttp.ResponseHeader, []byte) error) Outcome {
	e := s.e
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	release := true
	defer func() {
		if release {
			fasthttp.ReleaseRequest(req)
			fasthttp.ReleaseResponse(resp)
		}
	}()

	e.setHeaders(req, e.url)
	if st.id != "" {
		req.Header.Set(sessionHeader, st.id)
	}
	if st.version != "" {
		req.Header.Set(versionHeader, st.version)
		if st.version >= VersionStateless {
			req.Header.Set("Mcp-Method", c.Method)
			if c.name != "" {
				req.Header.Set("Mcp-Name", c.name)
			}
		}
	}
	sc.id = strconv.AppendInt(sc.id[:0], s.nextID.Add(1), 10)
	sc.body = c.appendBody(sc.body[:0], sc.id)
	req.SetBodyRaw(sc.body)
	resp.StreamBody = true

	if err := e.hc.DoDeadline(req, resp, deadline); err != nil {
		return classify(err)
	}
	status := resp.StatusCode()
	if status < 200 || status > 299 {
		body, _ := readBody(sc, resp)
		if status == fasthttp.StatusNotFound && st.id != "" {
			s.state.CompareAndSwap(st, nil) // the server forgot the session: initialize again
		}
		// From 2026-07-28 on, servers send JSON-RPC errors with a matching
		// HTTP status; the JSON-RPC error says more.
		if jsonrpc.Decode(body, &sc.env) == nil && sc.env.Error.Present() && bytes.Equal(sc.env.ID.In(body), sc.id) {
			return answer(body, &sc.env, sc.id, nil)
		}
		return Outcome{Kind: HTTPStatus, Code: status, Err: fmt.Errorf("http %d: %.200s", status, bytes.TrimSpace(body))}
	}
	if c.notification {
		_, _ = readBody(sc, resp)
		return Outcome{}
	}

	mediaType, _, _ := bytes.Cut(resp.Header.ContentType(), []byte(";"))
	mediaType = bytes.TrimSpace(mediaType)
	switch {
	case bytes.EqualFold(mediaType, []byte("application/json")):
		body, err := readBody(sc, resp)
		if err != nil {
			return classify(err)
		}
		if err := jsonrpc.Decode(body, &sc.env); err != nil {
			return fail(Garbage, fmt.Errorf("response body: %w", err))
		}
		return answer(body, &sc.env, sc.id, withHeader(resp, onResult))
	case bytes.EqualFold(mediaType, []byte("text/event-stream")):
		stream := resp.BodyStream()
		if stream == nil {
			return fail(StreamClosed, errors.New("empty event stream"))
		}
		sc.events.br.Reset(stream)
		for {
			event, data, err := sc.events.next()
			if errors.Is(err, io.EOF) {
				return fail(StreamClosed, errors.New("event stream ended before the response"))
			}
			if err != nil {
				return classify(err)
			}
			if len(event) > 0 && string(event) != "message" {
				continue
			}
			if err := jsonrpc.Decode(data, &sc.env); err != nil {
				return fail(Garbage, fmt.Errorf("event data: %w", err))
			}
			if sc.env.Kind != jsonrpc.KindResponse || !bytes.Equal(sc.env.ID.In(data), sc.id) {
				continue // a server request, a notification or another answer
			}
			out := answer(data, &sc.env, sc.id, withHeader(resp, onResult))
			// Read the end of the stream in the background so that the
			// connection can be pooled without delaying this answer.
			release = false
			go drain(req, resp)
			return out
		}
	case status == fasthttp.StatusAccepted:
		return fail(Garbage, errors.New("http 202 without a response to a request"))
	default:
		return fail(Garbage, fmt.Errorf("unexpected content type %q", resp.Header.ContentType()))
	}
}

// answer turns the decoded frame into the Outcome of the request with id.
func answer(frame []byte, env *jsonrpc.Envelope, id []byte, onResult func([]byte) error) Outcome {
	switch {
	case env.Kind != jsonrpc.KindResponse:
		return fail(Garbage, fmt.Errorf("got a json-rpc %s instead of a response", env.Kind))
	case !bytes.Equal(env.ID.In(frame), id):
		return fail(Garbage, fmt.Errorf("response id %s does not match request id %s", env.ID.In(frame), id))
	case env.Error.Present():
		code, err := rpcError(frame, env.Error)
		return Outcome{Kind: RPCError, Code: code, Err: err}
	case onResult != nil:
		if err := onResult(env.Result.In(frame)); err != nil {
			return fail(Garbage, err)
		}
	}
	return Outcome{}
}

// rpcError reads the code and message of the error object at span.
func rpcError(frame []byte, span jsonrpc.Span) (int, error) {
	code, msg := 0, []byte("(no message)")
	if s, ok := jsonrpc.Member(frame, span, "code"); ok {
		code, _ = strconv.Atoi(string(s.In(frame)))
	}
	if s, ok := jsonrpc.Member(frame, span, "message"); ok {
		if m, ok := jsonrpc.Unquote(s.In(frame)); ok {
			msg = m
		}
	}
	return code, fmt.Errorf("json-rpc error %d: %s", code, msg)
}

// withHeader lets an initialize callback see the response headers too.
func withHeader(resp *fasthttp.Response, fn func(*fasthttp.ResponseHeader, []byte) error) func([]byte) error {
	if fn == nil {
		return nil
	}
	return func(result []byte) error { return fn(&resp.Header, result) }
}

func drain(req *fasthttp.Request, resp *fasthttp.Response) {
	if stream := resp.BodyStream(); stream != nil {
		_, _ = io.Copy(io.Discard, stream)
	}
	_ = resp.CloseBodyStream()
	fasthttp.ReleaseRequest(req)
	fasthttp.ReleaseResponse(resp)
}

// readBody reads the whole streamed body into the scratch buffer.
func readBody(sc *Scratch, resp *fasthttp.Response) ([]byte, error) {
	stream := resp.BodyStream()
	if stream == nil {
		return resp.Body(), nil
	}
	b := sc.body[:0]
	var err error
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		var n int
		n, err = stream.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil || len(b) > maxBodySize {
			break
		}
	}
	sc.body = b
	if errors.Is(err, io.EOF) {
		err = nil
	} else if err == nil {
		err = errors.New("response body larger than 64 MiB")
	}
	_ = resp.CloseBodyStream()
	return b, err
}

func initializeCall(version string) *Call {
	params := fmt.Appendf(nil, `{"protocolVersion":%s,"capabilities":{},"clientInfo":{"name":%q,"version":"1"}}`,
		jsonString(version), clientName)
	return newCall("initialize", "", params, false)
}

// negotiatedVersion reads the protocol version from an initialize result.
func negotiatedVersion(result []byte) (string, error) {
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(result, &res); err != nil || res.ProtocolVersion == "" {
		return "", fmt.Errorf("initialize result without protocolVersion: %.200s", result)
	}
	return res.ProtocolVersion, nil
}

var initializedCall = newCall("notifications/initialized", "", nil, true)
