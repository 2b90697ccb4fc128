package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/portcullis-mcp/portcullis/host/internal/sse"
)

// A 2024-11-05 client on the HTTP+SSE endpoints reaches the same servers, flows included.
func TestGateway_LegacySSEClient(t *testing.T) {
	base, g := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	for _, path := range []string{"/sse", "/sse/demo"} {
		t.Run(path, func(t *testing.T) {
			var mu sync.Mutex
			var progress int
			c := mcp.NewClient(&mcp.Implementation{Name: "legacy", Version: "1"}, &mcp.ClientOptions{
				ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { mu.Lock(); progress++; mu.Unlock() },
				CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "ok"}}, nil
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cs, err := c.Connect(ctx, &mcp.SSEClientTransport{Endpoint: base + path}, &mcp.ClientSessionOptions{ProtocolVersion: "2024-11-05"})
			if err != nil {
				t.Fatal(err)
			}
			if v := cs.InitializeResult().ProtocolVersion; v != "2024-11-05" {
				t.Errorf("negotiated %s", v)
			}
			echo := "echo"
			if path == "/sse" {
				echo = "demo__echo"
			}
			if names := toolNames(t, cs); !slices.Contains(names, echo) {
				t.Fatalf("tools = %v", names)
			}
			if got := callText(t, cs, echo, map[string]any{"message": "old times"}); got != "old times" {
				t.Fatalf("echo = %q", got)
			}
			p := &mcp.CallToolParams{Name: strings.Replace(echo, "echo", "count_slowly", 1), Arguments: map[string]any{"n": 3, "interval_ms": 1}}
			p.SetProgressToken(1)
			if _, err := cs.CallTool(ctx, p); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return progress == 3 }, "progress did not reach the legacy client")
			if got := callText(t, cs, strings.Replace(echo, "echo", "summarize", 1), map[string]any{"text": "x"}); got != "summary: ok" {
				t.Fatalf("sampling over the legacy transport: %q", got)
			}
			cs.Close()
		})
	}
	waitFor(t, 5*time.Second, func() bool { g.mu.RLock(); defer g.mu.RUnlock(); return len(g.sessions) == 0 }, "legacy sessions outlived their streams")
}

// A 2025-03-26 client may batch requests; later versions may not.
func TestGateway_Batches(t *testing.T) {
	base, _ := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	id := rawSession(t, base+"/mcp") // negotiates 2025-06-18: no batches
	if code, body := rawPost(t, base+"/mcp", id, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`); code != 400 || !strings.Contains(body, "2025-06-18") {
		t.Fatalf("batch on 2025-06-18: %d %s", code, body)
	}
	old := rawSessionVersion(t, base+"/mcp", "2025-03-26")
	code, body := rawPost(t, base+"/mcp", old, `[
		{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__add","arguments":{"a":1,"b":2}}},
		{"jsonrpc":"2.0","method":"notifications/roots/list_changed"},
		{"jsonrpc":"2.0","id":"two","method":"tools/call","params":{"name":"demo__echo","arguments":{"message":"b"}}},
		{"jsonrpc":"2.0","id":3,"method":"nope/nope"},
		{"bad":true}
	]`)
	if code != 200 {
		t.Fatalf("batch: %d %s", code, body)
	}
	var answers []struct {
		ID     any             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &answers); err != nil {
		t.Fatalf("batch answer is not a JSON array: %v: %s", err, body)
	}
	byID := map[any]int{}
	for i, a := range answers {
		byID[a.ID] = i
	}
	if len(answers) != 4 {
		t.Fatalf("%d answers for 3 requests and 1 invalid element: %s", len(answers), body)
	}
	if a := answers[byID[float64(1)]]; !strings.Contains(string(a.Result), `"sum":3`) {
		t.Errorf("add: %s", a.Result)
	}
	if a := answers[byID["two"]]; !strings.Contains(string(a.Result), `"text":"b"`) {
		t.Errorf("echo: %s", a.Result)
	}
	if a := answers[byID[float64(3)]]; a.Error == nil || a.Error.Code != -32601 {
		t.Errorf("unknown method in batch: %+v", a)
	}
	if a := answers[byID[nil]]; a.Error == nil || a.Error.Code != -32600 {
		t.Errorf("invalid element in batch: %+v", a)
	}
	if code, _ := rawPost(t, base+"/mcp", old, `[{"jsonrpc":"2.0","method":"notifications/initialized"}]`); code != 202 {
		t.Errorf("batch of notifications: %d, want 202", code)
	}
}

func TestGateway_UnsupportedProtocolVersionHeader(t *testing.T) {
	base, _ := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	id := rawSession(t, base+"/mcp")
	code, body := rawPost(t, base+"/mcp", id, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "MCP-Protocol-Version", "1999-01-01")
	if code != 400 || !strings.Contains(body, "2025-11-25") {
		t.Fatalf("unsupported version: %d %s", code, body)
	}
	if code, _ := rawPost(t, base+"/mcp", id, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "MCP-Protocol-Version", "2025-06-18"); code != 200 {
		t.Fatalf("supported version: %d", code)
	}
}

func rawSessionVersion(t *testing.T, url, version string) string {
	t.Helper()
	req := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	return rawInitialize(t, url, req)
}

// Headers that contradict the body are refused; routing and policy follow the body.
func TestGateway_HeaderBodyMismatch(t *testing.T) {
	base, _ := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	id := rawSession(t, base+"/mcp")
	call := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"demo__echo","arguments":{"message":"m"}}}`
	code, body := rawPost(t, base+"/mcp", id, call, "Mcp-Method", "tools/call", "Mcp-Name", "safe")
	if code != 400 || !strings.Contains(body, `"id":9,"error":{"code":-32020`) {
		t.Fatalf("mismatched Mcp-Name: %d %s", code, body)
	}
	if code, body := rawPost(t, base+"/mcp", id, call, "Mcp-Method", "tools/list"); code != 400 || !strings.Contains(body, "-32020") {
		t.Fatalf("mismatched Mcp-Method: %d %s", code, body)
	}
	if code, body := rawPost(t, base+"/mcp", id, call, "Mcp-Method", "tools/call", "Mcp-Name", "=?base64?ZGVtb19fZWNobw==?="); code != 200 || !strings.Contains(body, `"text":"m"`) {
		t.Fatalf("matching base64 Mcp-Name: %d %s", code, body)
	}
}

// TestGateway_EraMatrix runs go-sdk clients of every stateful era against upstreams of an older
// transport (2024-11-05 HTTP+SSE), the current one (Streamable HTTP, sessions) and a newer,
// stateless one (a go-sdk server in stateless mode), exercising tools, resources, prompts,
// progress, sampling and change notifications through the aggregate.
func TestGateway_EraMatrix(t *testing.T) {
	newServer := func(name string) *mcp.Server {
		s := upstreamServer(name)
		mcp.AddTool(s, &mcp.Tool{Name: "progress"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			for i := 1; i <= 2; i++ {
				req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: 2})
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
		s.AddResource(&mcp.Resource{URI: "era://" + name, Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "era://" + name, Text: name}}}, nil
		})
		s.AddPrompt(&mcp.Prompt{Name: "p"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: name}}}}, nil
		})
		return s
	}
	older := goSDKServer(t, newServer("older"), true)
	currentSrv := newServer("current")
	current := goSDKServer(t, currentSrv, false)
	statelessSrv := newServer("newer")
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return statelessSrv }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(ts.Close)
	base, _ := startGateway(t, fmt.Sprintf(`
servers:
  - {name: older, url: %s, transport: sse}
  - {name: current, url: %s}
  - {name: newer, url: %s}
  - {name: demo, transport: demo}
`, older, current, ts.URL))

	for _, version := range []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"} {
		t.Run(version, func(t *testing.T) {
			var mu sync.Mutex
			progress := map[string]int{}
			changed := make(chan struct{}, 8)
			opts := &mcp.ClientOptions{
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					mu.Lock()
					progress[fmt.Sprint(r.Params.ProgressToken)]++
					mu.Unlock()
				},
				CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: version}}, nil
				},
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var transport mcp.Transport = &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}
			if version == "2024-11-05" {
				transport = &mcp.SSEClientTransport{Endpoint: base + "/sse"}
			}
			cs, err := mcp.NewClient(&mcp.Implementation{Name: "era-" + version, Version: "1"}, opts).Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if got := cs.InitializeResult().ProtocolVersion; got != version {
				t.Fatalf("negotiated %s", got)
			}
			for _, up := range []string{"older", "current", "newer"} {
				if got := callText(t, cs, up+"__whoami", nil); got != up {
					t.Errorf("%s__whoami = %q", up, got)
				}
				p := &mcp.CallToolParams{Name: up + "__progress"}
				p.SetProgressToken(up)
				if _, err := cs.CallTool(ctx, p); err != nil {
					t.Errorf("%s__progress: %v", up, err)
				}
				if r, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "era://" + up}); err != nil || r.Contents[0].Text != up {
					t.Errorf("read era://%s: %v", up, err)
				}
				if p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: up + "__p"}); err != nil || p.Messages[0].Content.(*mcp.TextContent).Text != up {
					t.Errorf("prompt %s__p: %v", up, err)
				}
			}
			waitFor(t, 5*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return progress["older"] == 2 && progress["current"] == 2 && progress["newer"] == 2
			}, fmt.Sprintf("progress by upstream: %v", progress))
			if got := callText(t, cs, "demo__summarize", map[string]any{"text": "t"}); got != "summary: "+version {
				t.Errorf("sampling: %q", got)
			}
			mcp.AddTool(currentSrv, &mcp.Tool{Name: "added_for_" + strings.ReplaceAll(version, "-", "_")}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
			select {
			case <-changed:
			case <-time.After(10 * time.Second):
				t.Fatal("tools/list_changed did not reach the client")
			}
		})
	}
}

// A 2026-07-28 client (the go-sdk's default) works statelessly through the gateway in front of
// 2025-era stateful servers: discovery, calls with progress, and change notifications through
// subscriptions/listen.
func TestGateway_StatelessClient(t *testing.T) {
	up := upstreamServer("stateful")
	newer := upstreamServer("stateless")
	ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return newer }, &mcp.StreamableHTTPOptions{Stateless: true}))
	t.Cleanup(ts.Close)
	base, g := startGateway(t, fmt.Sprintf("stateless_clients: true\nservers:\n  - name: up\n    url: %s\n  - name: demo\n    transport: demo\n  - name: newer\n    url: %s\n", goSDKServer(t, up, false), ts.URL))
	for _, path := range []string{"/mcp", "/mcp/up"} {
		t.Run(path, func(t *testing.T) {
			var mu sync.Mutex
			var progress []float64
			changed := make(chan struct{}, 4)
			c := mcp.NewClient(&mcp.Implementation{Name: "modern", Version: "1"}, &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
				CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "round trip"}}, nil
				},
				ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirmed": true}}, nil
				},
				ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
					mu.Lock()
					progress = append(progress, r.Params.Progress)
					mu.Unlock()
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + path}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
				t.Fatalf("client runs %s, want the stateless era", v)
			}
			whoami := "whoami"
			if path == "/mcp" {
				whoami = "up__whoami"
				p := &mcp.CallToolParams{Name: "demo__count_slowly", Arguments: map[string]any{"n": 2, "interval_ms": 1}}
				p.SetProgressToken("t")
				if _, err := cs.CallTool(ctx, p); err != nil {
					t.Fatal(err)
				}
				waitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(progress) == 2 }, "progress did not reach the stateless client")
				// The server's requests to the client become input_required round trips.
				if got := callText(t, cs, "demo__summarize", map[string]any{"text": "t"}); got != "summary: round trip" {
					t.Fatalf("sampling through round trips: %q", got)
				}
				if got := callText(t, cs, "demo__confirm", map[string]any{"action": "ship"}); got != "ship: accept true" {
					t.Fatalf("elicitation through round trips: %q", got)
				}
				if got := callText(t, cs, "newer__whoami", nil); got != "stateless" {
					t.Fatalf("a stateless upstream: %q", got)
				}
			}
			if got := callText(t, cs, whoami, nil); got != "stateful" {
				t.Fatalf("%s = %q", whoami, got)
			}
			mcp.AddTool(up, &mcp.Tool{Name: "new_" + strings.Trim(strings.ReplaceAll(path, "/", "_"), "_")}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
				return &mcp.CallToolResult{}, nil, nil
			})
			select {
			case <-changed:
			case <-time.After(10 * time.Second):
				t.Fatal("tools/list_changed did not reach the client through subscriptions/listen")
			}
		})
	}
	g.mu.RLock()
	defer g.mu.RUnlock()
	for id := range g.sessions {
		if !strings.HasPrefix(id, "stateless/") {
			t.Errorf("a stateless client left session %s", id)
		}
	}
}

// Without stateless_clients, a 2026-07-28 client is told so and falls back to 2025-11-25, where
// requests from servers (sampling here) reach it.
func TestGateway_StatelessClientFallsBack(t *testing.T) {
	base, _ := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	c := mcp.NewClient(&mcp.Implementation{Name: "modern", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "fell back"}}, nil
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: base + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if v := cs.InitializeResult().ProtocolVersion; v != "2025-11-25" {
		t.Fatalf("negotiated %s", v)
	}
	if got := callText(t, cs, "demo__summarize", map[string]any{"text": "x"}); got != "summary: fell back" {
		t.Fatalf("sampling after fallback: %q", got)
	}
}

// A client whose standalone stream broke reconnects with Last-Event-ID and gets what it missed.
func TestGateway_StreamResumesWithLastEventID(t *testing.T) {
	up := upstreamServer("u")
	base, _ := startGateway(t, fmt.Sprintf("servers:\n  - name: u\n    url: %s\n", goSDKServer(t, up, false)))
	id := rawSession(t, base+"/mcp")
	rawPost(t, base+"/mcp", id, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`) // opens the upstream session
	addTool := func(name string) {
		mcp.AddTool(up, &mcp.Tool{Name: name}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{}, nil, nil
		})
	}
	// open returns the ids of the first n events on a new stream that resumes after last.
	open := func(last string, n int) []string {
		t.Helper()
		var resp *http.Response
		waitFor(t, 5*time.Second, func() bool {
			req, _ := http.NewRequest(http.MethodGet, base+"/mcp", nil)
			req.Header.Set("Mcp-Session-Id", id)
			if last != "" {
				req.Header.Set("Last-Event-ID", last)
			}
			var err error
			if resp, err = http.DefaultClient.Do(req); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode == http.StatusConflict { // the previous stream is not noticed gone yet
				resp.Body.Close()
				return false
			}
			return true
		}, "stream never reopened")
		defer resp.Body.Close()
		r := sse.NewReader(resp.Body, 1<<20)
		var ids []string
		for len(ids) < n {
			ev, err := r.Next()
			if err != nil {
				t.Fatalf("after %v: %v", ids, err)
			}
			ids = append(ids, string(ev.ID))
		}
		return ids
	}
	done := make(chan []string)
	go func() { done <- open("", 1) }()
	time.Sleep(100 * time.Millisecond)
	addTool("first")
	if got := <-done; len(got) != 1 || got[0] != "1" {
		t.Fatalf("first stream: %v", got)
	}
	addTool("second") // sent while no stream is open
	if got := open("1", 1); got[0] != "2" {
		t.Fatalf("resuming after 1: %v", got)
	}
	if got := open("0", 2); got[0] != "1" || got[1] != "2" {
		t.Fatalf("resuming after 0: %v", got)
	}
}
