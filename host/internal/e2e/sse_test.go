package e2e

import (
	"strings"
	"testing"
	"time"
)

// TestAggregate_LegacySSEUpstream: a server that speaks only the 2024-11-05 HTTP+SSE transport
// (server-everything's sse mode) is listed and called through /mcp beside a stdio server, and its
// progress and sampling flows reach a Streamable HTTP client.
func TestAggregate_LegacySSEUpstream(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	sseURL := startHTTPEverything(t, f, "sse")
	gw := startGateway(t, servers(
		urlServer("legacy", sseURL+"/sse", "sse"),
		stdioServer("everything", f.node, []string{f.everything, "stdio"}, nil),
	))
	ev, opts := newEventClient()
	cs := connect(t, ctx, gw.URL+"/mcp", opts)

	tools := toolNames(t, ctx, cs)
	for _, want := range []string{"legacy__echo", "legacy__get-sum", "everything__echo"} {
		if tools[want] == nil {
			t.Errorf("tools/list lacks %s; it shows %d tools", want, len(tools))
		}
	}
	if got := callTool(t, ctx, cs, "legacy__echo", map[string]any{"message": "over legacy SSE"}); got != "Echo: over legacy SSE" {
		t.Errorf("legacy__echo = %q, want %q", got, "Echo: over legacy SSE")
	}
	if got := callTool(t, ctx, cs, "legacy__get-sum", map[string]any{"a": 2, "b": 40}); !strings.Contains(got, "42") {
		t.Errorf("legacy__get-sum(2, 40) = %q, want the sum 42", got)
	}
	t.Run("progress", func(t *testing.T) { checkProgress(t, ctx, cs, ev, "legacy__trigger-long-running-operation") })
	t.Run("sampling", func(t *testing.T) { checkSampling(t, ctx, cs, ev, "legacy__trigger-sampling-request") })
}
