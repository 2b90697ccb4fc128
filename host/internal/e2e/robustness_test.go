package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestTimeoutAndIsolation: a call that overruns its configured timeout fails with an error that
// names the server and the limit, while calls to the same server and to others go on unhindered,
// and the server stays usable afterwards.
func TestTimeoutAndIsolation(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	gw := startGateway(t, servers(
		stdioServer("everything", f.node, []string{f.everything, "stdio"}, nil)+
			"    tool_timeouts:\n      trigger-long-running-*: 800ms\n",
		stdioServer("memory", f.node, []string{f.memory}, map[string]string{"MEMORY_FILE_PATH": filepath.Join(t.TempDir(), "m.jsonl")}),
	))
	cs := connect(t, ctx, gw.URL+"/mcp", nil)
	toolNames(t, ctx, cs) // both servers running

	start := time.Now()
	slow := callAsync(ctx, cs, "everything__trigger-long-running-operation", map[string]any{"duration": 5, "steps": 1})
	time.Sleep(100 * time.Millisecond)
	for _, c := range []struct{ tool, want string }{
		{"everything__echo", "Echo: meanwhile"},
		{"memory__read_graph", "entities"},
	} {
		began := time.Now()
		got := callTool(t, ctx, cs, c.tool, map[string]any{"message": "meanwhile"})
		if !strings.Contains(got, c.want) {
			t.Errorf("%s while a call hangs = %q, want %q", c.tool, got, c.want)
		}
		if took := time.Since(began); took > 600*time.Millisecond {
			t.Errorf("%s took %v while another call hung: calls block each other", c.tool, took)
		}
	}
	select {
	case o := <-slow:
		took := time.Since(start)
		if err := o.failure(); err == nil || !strings.Contains(err.Error(), "everything") || !strings.Contains(err.Error(), "800ms") {
			t.Errorf("the overrunning call ended with %v; want an error naming the server and its 800ms timeout", err)
		}
		if took < 700*time.Millisecond || took > 3*time.Second {
			t.Errorf("the overrunning call failed after %v; its timeout is 800ms", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("a call with an 800ms timeout has not returned after 10s")
	}
	if got := callTool(t, ctx, cs, "everything__echo", map[string]any{"message": "after"}); got != "Echo: after" {
		t.Errorf("everything__echo after a timed-out call = %q", got)
	}
}

// TestConcurrentCalls: many calls in flight at once on one client session, to a stdio and a
// Streamable HTTP server, each get their own answer: ids are mapped back correctly under load.
func TestConcurrentCalls(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	gw := everythingGateway(t, f)
	cs := connect(t, ctx, gw.URL+"/mcp", nil)
	toolNames(t, ctx, cs)

	const perServer = 12
	var wg sync.WaitGroup
	for _, server := range []string{"everything", "everything_http"} {
		for i := range perServer {
			wg.Go(func() {
				msg := fmt.Sprintf("%s call %d", server, i)
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: server + "__echo", Arguments: map[string]any{"message": msg}})
				if err != nil {
					t.Errorf("%s__echo #%d: %v", server, i, err)
					return
				}
				if got := resultText(res); got != "Echo: "+msg {
					t.Errorf("%s__echo #%d = %q, want %q: an answer went to the wrong call", server, i, got, "Echo: "+msg)
				}
			})
			wg.Go(func() {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: server + "__get-sum", Arguments: map[string]any{"a": i, "b": 1000}})
				if err != nil {
					t.Errorf("%s__get-sum #%d: %v", server, i, err)
					return
				}
				if want := fmt.Sprint(i + 1000); !strings.Contains(resultText(res), want) {
					t.Errorf("%s__get-sum(%d, 1000) = %q, want %s", server, i, resultText(res), want)
				}
			})
		}
	}
	wg.Wait()
}

// TestStreamableHTTPUpstream_Restart: when a Streamable HTTP server restarts and forgets its
// sessions, the gateway opens a new upstream session for the client. server-everything answers
// an unknown session with 400 rather than the 404 the spec asks for, so the gateway cannot tell
// that the first call was not processed: that call may fail, naming the server, but the client
// session must recover without reconnecting.
func TestStreamableHTTPUpstream_Restart(t *testing.T) {
	f, ctx := prepare(t, 60*time.Second)
	port := freePort(t)
	url, kill := runHTTPEverything(t, f, "streamableHttp", port)
	gw := startGateway(t, servers(urlServer("everything_http", url+"/mcp", "http")))
	cs := connect(t, ctx, gw.URL+"/mcp", nil)
	callTool(t, ctx, cs, "everything_http__echo", map[string]any{"message": "before"})

	kill()
	runHTTPEverything(t, f, "streamableHttp", port)
	args := map[string]any{"message": "after restart"}
	if err := (<-callAsync(ctx, cs, "everything_http__echo", args)).failure(); err != nil && !strings.Contains(err.Error(), "everything_http") {
		t.Errorf("the first call after the upstream restarted failed with %q, which does not name the server", err)
	}
	if got := callTool(t, ctx, cs, "everything_http__echo", args); got != "Echo: after restart" {
		t.Errorf("everything_http__echo after the upstream restarted = %q, want %q", got, "Echo: after restart")
	}
}
