package mcpclient

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/bench/internal/benchtest"
	"github.com/portcullis-mcp/portcullis/bench/internal/sdkecho"
)

func newEndpoint(t *testing.T, o Options) *Endpoint {
	t.Helper()
	if o.MaxConns == 0 {
		o.MaxConns = 8
	}
	e, err := NewEndpoint(o)
	if err != nil {
		t.Fatalf("NewEndpoint: %v", err)
	}
	t.Cleanup(e.CloseIdleConnections)
	return e
}

func compile(t *testing.T, e *Endpoint, method, name, args string) *Call {
	t.Helper()
	c, err := e.Compile(method, name, json.RawMessage(args))
	if err != nil {
		t.Fatalf("Compile(%s): %v", method, err)
	}
	return c
}

func soon() time.Time { return time.Now().Add(5 * time.Second) }

// TestSession_Do runs every kind of call against real servers over every
// transport and protocol era.
func TestSession_Do(t *testing.T) {
	echoURL := benchtest.Echo(t)
	sdkSSE := benchtest.HTTP(t, sdkecho.Streamable(false, false))
	sdkJSON := benchtest.HTTP(t, sdkecho.Streamable(false, true))
	sdkStateless := benchtest.HTTP(t, sdkecho.Streamable(true, false))
	legacy := benchtest.HTTP(t, sdkecho.SSE())
	tests := []struct {
		name string
		opts Options
	}{
		{"echo sessions", Options{URL: echoURL}},
		{"echo stateless", Options{URL: echoURL, ProtocolVersion: VersionStateless}},
		{"go-sdk event-stream answers", Options{URL: sdkSSE}},
		{"go-sdk json answers", Options{URL: sdkJSON}},
		{"go-sdk 2025-06-18", Options{URL: sdkJSON, ProtocolVersion: "2025-06-18"}},
		{"go-sdk stateless server", Options{URL: sdkStateless}},
		{"go-sdk stateless protocol", Options{URL: sdkStateless, ProtocolVersion: VersionStateless}},
		{"go-sdk legacy sse", Options{URL: legacy, Transport: LegacySSE}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEndpoint(t, tt.opts)
			calls := []*Call{
				compile(t, e, "tools/call", "echo", `{"message":"hi"}`),
				compile(t, e, "tools/list", "", ""),
				compile(t, e, "resources/read", "echo://hello", ""),
				compile(t, e, "prompts/get", "echo", `{"message":"hi"}`),
			}
			s := e.NewSession()
			defer s.Close()
			sc := NewScratch()
			for round := range 3 {
				for _, c := range calls {
					if out := s.Do(sc, c, soon()); out.Kind != OK {
						t.Fatalf("round %d %s: %v: %v", round, c.Method, out.Kind, out.Err)
					}
				}
			}
			out := s.Do(sc, compile(t, e, "tools/call", "no-such-tool", `{}`), soon())
			if out.Kind != RPCError && out.Kind != OK { // go-sdk reports unknown tools as tool errors
				t.Errorf("unknown tool: %v %v", out.Kind, out.Err)
			}
		})
	}
}

// TestSession_Concurrent shares one session between goroutines, as the load
// generator does; each request must get its own answer.
func TestSession_Concurrent(t *testing.T) {
	for _, url := range []string{benchtest.Echo(t), benchtest.HTTP(t, sdkecho.Streamable(false, false))} {
		e := newEndpoint(t, Options{URL: url})
		c := compile(t, e, "tools/call", "echo", `{"message":"hi"}`)
		s := e.NewSession()
		var failed atomic.Int64
		done := make(chan struct{})
		for range 8 {
			go func() {
				defer func() { done <- struct{}{} }()
				sc := NewScratch()
				for range 50 {
					if out := s.Do(sc, c, soon()); out.Kind != OK {
						failed.Add(1)
						t.Errorf("%v: %v", out.Kind, out.Err)
					}
				}
			}()
		}
		for range 8 {
			<-done
		}
		s.Close()
	}
}

// rawServer accepts TCP connections and hands each to fn.
func rawServer(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fn(c)
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/mcp"
}

func respondWith(contentType string, status int, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	})
}

// TestSession_ErrorKinds checks that each way a server can fail lands in its
// own kind, and that no request outlives its deadline.
func TestSession_ErrorKinds(t *testing.T) {
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	tests := []struct {
		name     string
		url      string
		want     Kind
		wantCode int
	}{
		{"refused", benchtest.Refused(t), ConnRefused, 0},
		{"http 500", benchtest.HTTP(t, respondWith("text/plain", 500, "boom")), HTTPStatus, 500},
		{"json garbage", benchtest.HTTP(t, respondWith("application/json", 200, "not json")), Garbage, 0},
		{"wrong content type", benchtest.HTTP(t, respondWith("text/html", 200, "<html>")), Garbage, 0},
		{"wrong id", benchtest.HTTP(t, respondWith("application/json", 200, `{"jsonrpc":"2.0","id":999,"result":{}}`)), Garbage, 0},
		{"json-rpc error", benchtest.HTTP(t, respondWith("application/json", 200, `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"nope"}}`)), RPCError, -32000},
		{"http garbage", rawServer(t, func(c net.Conn) {
			_, _ = c.Read(make([]byte, 4096))
			_, _ = io.WriteString(c, "HELLO THERE\r\n\r\n")
		}), Garbage, 0},
		{"closed before answer", rawServer(t, func(c net.Conn) { _, _ = c.Read(make([]byte, 4096)) }), StreamClosed, 0},
		{"stream ends early", benchtest.HTTP(t, respondWith("text/event-stream", 200,
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")), StreamClosed, 0},
		{"stream cut mid-event", benchtest.HTTP(t, respondWith("text/event-stream", 200, "data: {\"jsonrpc\":")), StreamClosed, 0},
		{"event garbage", benchtest.HTTP(t, respondWith("text/event-stream", 200, "data: nonsense\n\n")), Garbage, 0},
		{"stalled", benchtest.HTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so that the server notices the client leave
			select {
			case <-stall:
			case <-r.Context().Done():
			}
		})), Timeout, 0},
		{"stalled stream", benchtest.HTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			select {
			case <-stall:
			case <-r.Context().Done():
			}
		})), Timeout, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEndpoint(t, Options{URL: tt.url, ProtocolVersion: VersionStateless})
			s := e.NewSession()
			start := time.Now()
			out := s.Do(NewScratch(), compile(t, e, "tools/list", "", ""), start.Add(300*time.Millisecond))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("request took %v, past its deadline", took)
			}
			if out.Kind != tt.want || out.Code != tt.wantCode {
				t.Errorf("got %v (code %d, %v), want %v (code %d)", out.Kind, out.Code, out.Err, tt.want, tt.wantCode)
			}
			if out.Err == nil {
				t.Error("failure without an error message")
			}
		})
	}
}

// TestSession_ReinitializesForgottenSession checks that a 404 for a known
// session makes the next request initialize again, as the spec requires.
func TestSession_ReinitializesForgottenSession(t *testing.T) {
	var inits, calls atomic.Int64
	url := benchtest.HTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage
			Method string
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		result := `{}`
		switch {
		case req.Method == "initialize":
			inits.Add(1)
			w.Header().Set("Mcp-Session-Id", "s1")
			result = `{"protocolVersion":"2025-11-25","capabilities":{}}`
		case req.ID == nil:
			w.WriteHeader(http.StatusAccepted)
			return
		case calls.Add(1) == 1:
			http.Error(w, "unknown session", http.StatusNotFound)
			return
		}
		_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, result)
	}))
	e := newEndpoint(t, Options{URL: url})
	s := e.NewSession()
	c := compile(t, e, "tools/list", "", "")
	sc := NewScratch()
	if out := s.Do(sc, c, soon()); out.Kind != HTTPStatus || out.Code != 404 {
		t.Fatalf("first call: %v %d, want http 404", out.Kind, out.Code)
	}
	if out := s.Do(sc, c, soon()); out.Kind != OK {
		t.Fatalf("second call: %v: %v", out.Kind, out.Err)
	}
	if inits.Load() != 2 {
		t.Errorf("initialized %d times, want 2", inits.Load())
	}
}

// TestSession_LegacyStreamCloses checks that callers waiting on a legacy SSE
// stream learn at once when it ends.
func TestSession_LegacyStreamCloses(t *testing.T) {
	url := benchtest.HTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "event: endpoint\ndata: /post\n\n")
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond) // then end the stream
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	e := newEndpoint(t, Options{URL: url, Transport: LegacySSE})
	start := time.Now()
	out := e.NewSession().Open(NewScratch(), soon())
	if out.Kind != StreamClosed {
		t.Errorf("got %v (%v), want stream_closed", out.Kind, out.Err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("waited %v for a closed stream", took)
	}
}

func TestNewEndpoint_Rejects(t *testing.T) {
	for _, o := range []Options{
		{URL: "ftp://x/mcp"},
		{URL: "http:///mcp"},
		{URL: "http://x/mcp", Transport: "carrier-pigeon"},
		{URL: "http://x/sse", Transport: LegacySSE, ProtocolVersion: VersionStateless},
		{URL: "http://x/mcp", Headers: []Header{{Name: "Bad Name", Value: "v"}}},
	} {
		if _, err := NewEndpoint(o); err == nil {
			t.Errorf("NewEndpoint(%+v) succeeded", o)
		}
	}
}

func TestEndpoint_CompileStateless(t *testing.T) {
	e := newEndpoint(t, Options{URL: "http://127.0.0.1:1/mcp", ProtocolVersion: VersionStateless})
	c := compile(t, e, "tools/call", "echo", `{"a": 1}`)
	body := c.appendBody(nil, []byte("7"))
	var msg struct {
		ID     int
		Params struct {
			Meta      map[string]json.RawMessage `json:"_meta"`
			Name      string
			Arguments map[string]int
		}
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if msg.ID != 7 || msg.Params.Name != "echo" || msg.Params.Arguments["a"] != 1 ||
		string(msg.Params.Meta["io.modelcontextprotocol/protocolVersion"]) != `"2026-07-28"` {
		t.Errorf("body %s", body)
	}
	if _, err := e.Compile("tools/call", "echo", json.RawMessage(`[1]`)); err == nil {
		t.Error("array arguments accepted")
	}
	if _, err := e.Compile("tools/call", "", nil); err == nil {
		t.Error("tools/call without a name accepted")
	}
}
