package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
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
