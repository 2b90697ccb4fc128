// Package demo is the built-in upstream MCP server that `portcullis serve` fronts when it runs
// without a config file. Its tools show each flow the gateway relays: plain calls, progress and
// logging streamed while a call runs, and requests from the server back to the client (sampling
// and elicitation).
package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Version of the demo server, reported in serverInfo.
const Version = "1.0.0"

// NewServer returns the demo server. Each connected session is independent.
func NewServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "portcullis-demo", Version: Version}, &mcp.ServerOptions{
		Instructions: "A demo server built into Portcullis: echo, arithmetic, text statistics, a slow task with progress, and tools that ask the client for sampling or input.",
	})
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "Returns the message it is given.", Annotations: readOnly}, echo)
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two numbers.", Annotations: readOnly}, add)
	mcp.AddTool(s, &mcp.Tool{Name: "text_stats", Description: "Counts the characters, words and lines of a text.", Annotations: readOnly}, textStats)
	mcp.AddTool(s, &mcp.Tool{Name: "count_slowly", Description: "Counts to n, one step every interval_ms milliseconds, reporting progress and logging each step."}, countSlowly)
	mcp.AddTool(s, &mcp.Tool{Name: "summarize", Description: "Asks the client's model (sampling) to summarize a text."}, summarize)
	mcp.AddTool(s, &mcp.Tool{Name: "confirm", Description: "Asks the user (elicitation) to confirm an action."}, confirm)
	s.AddResource(&mcp.Resource{URI: "demo://readme", Name: "readme", MIMEType: "text/plain", Description: "What the demo server offers."},
		func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "demo://readme", MIMEType: "text/plain",
				Text: "Portcullis demo server: tools echo, add, text_stats, count_slowly, summarize, confirm."}}}, nil
		})
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "demo://notes/{name}", Name: "note", MIMEType: "text/plain"},
		func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			name := strings.TrimPrefix(req.Params.URI, "demo://notes/")
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: "note " + name}}}, nil
		})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Description: "A greeting for someone.", Arguments: []*mcp.PromptArgument{{Name: "name", Required: true}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "Say hello to " + req.Params.Arguments["name"] + "."}}}}, nil
		})
	return s
}

// Serve runs one demo session over newline-delimited JSON on r and w, until they close.
func Serve(r io.ReadCloser, w io.WriteCloser) {
	_ = NewServer().Run(context.Background(), &mcp.IOTransport{Reader: r, Writer: w})
}

type echoIn struct {
	Message string `json:"message" jsonschema:"the text to return"`
}

type echoOut struct {
	Message string `json:"message"`
}

func echo(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, echoOut, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: in.Message}}}, echoOut{in.Message}, nil
}

type addIn struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

type addOut struct {
	Sum float64 `json:"sum"`
}

func add(_ context.Context, _ *mcp.CallToolRequest, in addIn) (*mcp.CallToolResult, addOut, error) {
	return nil, addOut{in.A + in.B}, nil
}

type statsIn struct {
	Text string `json:"text"`
}

type statsOut struct {
	Characters int `json:"characters"`
	Words      int `json:"words"`
	Lines      int `json:"lines"`
}

func textStats(_ context.Context, _ *mcp.CallToolRequest, in statsIn) (*mcp.CallToolResult, statsOut, error) {
	out := statsOut{Characters: len([]rune(in.Text)), Words: len(strings.FieldsFunc(in.Text, unicode.IsSpace))}
	if in.Text != "" {
		out.Lines = strings.Count(in.Text, "\n") + 1
	}
	return nil, out, nil
}

type countIn struct {
	N          int `json:"n" jsonschema:"how far to count (1-100)"`
	IntervalMS int `json:"interval_ms,omitempty" jsonschema:"milliseconds between steps (default 10)"`
}

type countOut struct {
	Counted int `json:"counted"`
}

func countSlowly(ctx context.Context, req *mcp.CallToolRequest, in countIn) (*mcp.CallToolResult, countOut, error) {
	if in.N < 1 || in.N > 100 {
		return nil, countOut{}, fmt.Errorf("n must be between 1 and 100")
	}
	interval := time.Duration(max(in.IntervalMS, 1)) * time.Millisecond
	if in.IntervalMS == 0 {
		interval = 10 * time.Millisecond
	}
	token := req.Params.GetProgressToken()
	for i := 1; i <= in.N; i++ {
		select {
		case <-ctx.Done():
			return nil, countOut{}, ctx.Err()
		case <-time.After(interval):
		}
		if token != nil {
			_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: float64(i), Total: float64(in.N), Message: fmt.Sprintf("step %d", i)})
		}
		_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "count_slowly", Data: fmt.Sprintf("step %d of %d", i, in.N)})
	}
	return nil, countOut{in.N}, nil
}

type summarizeIn struct {
	Text string `json:"text"`
}

func summarize(ctx context.Context, req *mcp.CallToolRequest, in summarizeIn) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "Summarize in one sentence: " + in.Text}}},
		MaxTokens: 100,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sampling: %w", err)
	}
	text := ""
	if tc, ok := res.Content.(*mcp.TextContent); ok {
		text = tc.Text
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "summary: " + text}}}, nil, nil
}

type confirmIn struct {
	Action string `json:"action"`
}

func confirm(ctx context.Context, req *mcp.CallToolRequest, in confirmIn) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
		Message: "Confirm: " + in.Action,
		RequestedSchema: map[string]any{"type": "object", "properties": map[string]any{
			"confirmed": map[string]any{"type": "boolean"},
		}},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("elicitation: %w", err)
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%s: %s %v", in.Action, res.Action, res.Content["confirmed"])}}}, nil, nil
}
