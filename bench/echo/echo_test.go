package echo_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/bench/echo"
	"github.com/portcullis-mcp/portcullis/bench/internal/benchtest"
)

// TestHandler_GoSDKClient checks that the official client can use the echo
// server, through initialize (2025-11-25) and through server/discover
// (stateless 2026-07-28).
func TestHandler_GoSDKClient(t *testing.T) {
	url := benchtest.Echo(t)
	for _, version := range []string{"2025-11-25", "2026-07-28", "2024-11-05"} {
		t.Run(version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			client := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
			cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, DisableStandaloneSSE: true},
				&mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			defer cs.Close()
			if got := cs.InitializeResult().ProtocolVersion; got != version {
				t.Errorf("negotiated %s, want %s", got, version)
			}

			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("ListTools: %v", err)
			}
			if len(tools.Tools) != 1 || tools.Tools[0].Name != "echo" {
				t.Fatalf("tools = %+v, want one named echo", tools.Tools)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"message": "hi \"there\"\n"}})
			if err != nil {
				t.Fatalf("CallTool: %v", err)
			}
			text, ok := res.Content[0].(*mcp.TextContent)
			if !ok || text.Text != `{"message":"hi \"there\"\n"}` {
				t.Errorf("echo returned %#v", res.Content[0])
			}
			if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "nope"}); err == nil {
				t.Error("calling an unknown tool succeeded")
			}

			read, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "echo://hello"})
			if err != nil || read.Contents[0].Text != "echo://hello" {
				t.Errorf("ReadResource = %+v, %v", read, err)
			}
			prompt, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "echo", Arguments: map[string]string{"message": "x"}})
			if err != nil || !strings.Contains(prompt.Messages[0].Content.(*mcp.TextContent).Text, `"message":"x"`) {
				t.Errorf("GetPrompt = %+v, %v", prompt, err)
			}
			if err := cs.Ping(ctx, nil); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

func TestHandler_Edges(t *testing.T) {
	tests := []struct {
		name, method, body string
		wantStatus         int
		wantBody           string
	}{
		{"notification", "POST", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 202, ""},
		{"garbage", "POST", `{"jsonrpc":`, 400, `"code":-32700`},
		{"unknown method", "POST", `{"jsonrpc":"2.0","id":"a","method":"nope"}`, 200, `{"jsonrpc":"2.0","id":"a","error":{"code":-32601`},
		{"control characters", "POST", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"m":"a\tb\u0001"}}}`,
			200, `"text":"{\"m\":\"a\\tb\\u0001\"}"`},
		{"get stream", "GET", "", 405, ""},
		{"delete session", "DELETE", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rc fasthttp.RequestCtx
			rc.Request.Header.SetMethod(tt.method)
			rc.Request.SetBodyString(tt.body)
			echo.Handler(&rc)
			if got := rc.Response.StatusCode(); got != tt.wantStatus {
				t.Errorf("status %d, want %d", got, tt.wantStatus)
			}
			if body := string(rc.Response.Body()); !strings.Contains(body, tt.wantBody) {
				t.Errorf("body %s, want it to contain %s", body, tt.wantBody)
			}
		})
	}
}

func BenchmarkHandler_ToolsCall(b *testing.B) {
	body := []byte(`{"jsonrpc":"2.0","id":12345,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`)
	var rc fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		rc.Request.Header.SetMethod("POST")
		rc.Request.SetBodyRaw(body)
		echo.Handler(&rc)
		rc.Response.Reset()
	}
}
