// Package sdkecho is the echo server of package echo written with the
// official go-sdk: the reference point for benchmarks and tests that need a
// real, spec-following MCP server.
package sdkecho

import (
	"context"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// NewServer returns a server offering the echo tool, the echo://hello
// resource and the echo prompt.
func NewServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "sdk-echo", Version: "1"}, nil)
	s.AddTool(&mcp.Tool{
		Name:        "echo",
		Description: "Returns its arguments as JSON text.",
		InputSchema: map[string]any{"type": "object", "properties": map[string]any{"message": map[string]any{"type": "string"}}},
	}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
	})
	s.AddResource(&mcp.Resource{URI: "echo://hello", Name: "hello", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: req.Params.URI}}}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "echo", Arguments: []*mcp.PromptArgument{{Name: "message"}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: req.Params.Arguments["message"]}}}}, nil
		})
	return s
}

// Streamable returns a Streamable HTTP handler for one shared server.
// With jsonResponse it answers application/json instead of event streams.
func Streamable(stateless, jsonResponse bool) http.Handler {
	s := NewServer()
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: stateless, JSONResponse: jsonResponse})
}

// SSE returns a handler of the legacy HTTP+SSE transport.
func SSE() http.Handler {
	s := NewServer()
	return mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return s }, nil)
}
