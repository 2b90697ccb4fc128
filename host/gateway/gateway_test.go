package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// upstreamServer is a go-sdk server with a tool that names the server, so a test can see where a
// call went.
func upstreamServer(name string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "whoami"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil, nil
	})
	return s
}

func TestGateway_AggregatesThreeTransports(t *testing.T) {
	httpURL := goSDKServer(t, upstreamServer("over-http"), false)
	sseURL := goSDKServer(t, upstreamServer("over-sse"), true)
	base, _ := startGateway(t, fmt.Sprintf(`
servers:
  - name: demo
    transport: demo
  - name: docs
    url: %s
  - name: legacy
    url: %s
    transport: sse
`, httpURL, sseURL))
	cs := connect(t, base+"/mcp", nil)
	names := toolNames(t, cs)
	for _, want := range []string{"demo__echo", "demo__add", "docs__whoami", "legacy__whoami"} {
		if !slices.Contains(names, want) {
			t.Errorf("aggregate tools/list lacks %s; got %v", want, names)
		}
	}
	if got := callText(t, cs, "demo__echo", map[string]any{"message": "hello"}); got != "hello" {
		t.Errorf("demo__echo = %q", got)
	}
	if got := callText(t, cs, "docs__whoami", nil); got != "over-http" {
		t.Errorf("docs__whoami = %q", got)
	}
	if got := callText(t, cs, "legacy__whoami", nil); got != "over-sse" {
		t.Errorf("legacy__whoami = %q", got)
	}

	// The per-server endpoint shows the server as it is.
	single := connect(t, base+"/mcp/docs", nil)
	if names := toolNames(t, single); !slices.Equal(names, []string{"whoami"}) {
		t.Errorf("/mcp/docs tools = %v", names)
	}
	if got := callText(t, single, "whoami", nil); got != "over-http" {
		t.Errorf("/mcp/docs whoami = %q", got)
	}
	if name := single.InitializeResult().ServerInfo.Name; name != "over-http" {
		t.Errorf("/mcp/docs serverInfo = %q, want the upstream's", name)
	}
}

func TestGateway_PromptsAndResources(t *testing.T) {
	base, _ := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	cs := connect(t, base+"/mcp", nil)
	ctx := context.Background()
	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil || len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != "demo__greet" {
		t.Fatalf("prompts = %+v, %v", prompts, err)
	}
	p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "demo__greet", Arguments: map[string]string{"name": "Ada"}})
	if err != nil || !strings.Contains(p.Messages[0].Content.(*mcp.TextContent).Text, "Ada") {
		t.Fatalf("prompts/get = %+v, %v", p, err)
	}
	// A templated URI read without listing first still finds its server.
	r, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "demo://notes/x1"})
	if err != nil || r.Contents[0].Text != "note x1" {
		t.Fatalf("read template resource = %+v, %v", r, err)
	}
	res, err := cs.ListResources(ctx, nil)
	if err != nil || len(res.Resources) != 1 || res.Resources[0].URI != "demo://readme" || res.Resources[0].Name != "demo__readme" {
		t.Fatalf("resources = %+v, %v", res, err)
	}
	// With one server behind the endpoint, it decides about URIs it does not list.
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "nowhere://x"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("unknown resource error = %v", err)
	}
}

func TestGateway_StreamsProgressAndRelaysServerRequests(t *testing.T) {
	base, _ := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	var progress []float64
	var mu sync.Mutex
	cs := connect(t, base+"/mcp", &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			defer mu.Unlock()
			if req.Params.ProgressToken == "my-token" {
				progress = append(progress, req.Params.Progress)
			}
		},
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "test", Role: "assistant", Content: &mcp.TextContent{Text: "a short summary"}}, nil
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirmed": true}}, nil
		},
	})
	params := &mcp.CallToolParams{Name: "demo__count_slowly", Arguments: map[string]any{"n": 4, "interval_ms": 5}}
	params.SetProgressToken("my-token")
	if _, err := cs.CallTool(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	// The client handles notifications on its own goroutines: the last may land after the result.
	waitFor(t, 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(progress) == 4 }, "not all progress reached the client")
	mu.Lock()
	if !slices.Equal(progress, []float64{1, 2, 3, 4}) {
		t.Errorf("progress seen by the client = %v, want 1..4 with its own token", progress)
	}
	mu.Unlock()
	if got := callText(t, cs, "demo__summarize", map[string]any{"text": "long text"}); got != "summary: a short summary" {
		t.Errorf("sampling relay: %q", got)
	}
	if got := callText(t, cs, "demo__confirm", map[string]any{"action": "deploy"}); got != "deploy: accept true" {
		t.Errorf("elicitation relay: %q", got)
	}
}

func TestGateway_ListChangedReachesClient(t *testing.T) {
	up := upstreamServer("changing")
	url := goSDKServer(t, up, false)
	base, _ := startGateway(t, fmt.Sprintf("servers:\n  - name: up\n    url: %s\n", url))
	changed := make(chan struct{}, 4)
	cs := connect(t, base+"/mcp", &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
	toolNames(t, cs) // opens the upstream session
	mcp.AddTool(up, &mcp.Tool{Name: "added"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("tools/list_changed from the upstream never reached the client")
	}
	if names := toolNames(t, cs); !slices.Contains(names, "up__added") {
		t.Errorf("after list_changed, tools = %v", names)
	}
}

func TestGateway_CancellationReachesUpstream(t *testing.T) {
	cancelled := make(chan struct{})
	started := make(chan struct{})
	s := mcp.NewServer(&mcp.Implementation{Name: "slow", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "wait"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		close(started)
		select {
		case <-ctx.Done():
			close(cancelled)
			return nil, nil, ctx.Err()
		case <-time.After(30 * time.Second):
			return &mcp.CallToolResult{}, nil, nil
		}
	})
	base, _ := startGateway(t, fmt.Sprintf("servers:\n  - name: slow\n    url: %s\n", goSDKServer(t, s, false)))
	cs := connect(t, base+"/mcp", nil)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow__wait"})
		errc <- err
	}()
	<-started
	cancel()
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream tool never saw the cancellation")
	}
	if err := <-errc; err == nil {
		t.Fatal("cancelled call returned no error")
	}
}

func TestGateway_SessionsAreBoundToCallerAndEndpoint(t *testing.T) {
	base, g := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	id := rawSession(t, base+"/mcp", "Authorization", "Bearer alice")
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{60,}$`).MatchString(id) || id == rawSession(t, base+"/mcp", "Authorization", "Bearer alice") {
		t.Fatalf("session id %q is not a sealed, unique token", id)
	}
	list := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	if code, _ := rawPost(t, base+"/mcp", id, list, "Authorization", "Bearer alice"); code != 200 {
		t.Fatalf("owner's request: %d", code)
	}
	if code, body := rawPost(t, base+"/mcp", id, list, "Authorization", "Bearer mallory"); code != 404 {
		t.Fatalf("another caller's request with the session: %d %s", code, body)
	}
	if code, _ := rawPost(t, base+"/mcp", id, list); code != 404 {
		t.Fatalf("request without credentials on the session: %d", code)
	}
	if code, _ := rawPost(t, base+"/mcp/demo", id, list, "Authorization", "Bearer alice"); code != 404 {
		t.Fatalf("session used on another endpoint: %d", code)
	}
	if code, _ := rawPost(t, base+"/mcp", "", list); code != 400 {
		t.Fatalf("request without a session: %d", code)
	}
	g.mu.RLock()
	n := len(g.sessions)
	g.mu.RUnlock()
	if n != 2 {
		t.Fatalf("%d sessions open, want the 2 opened", n)
	}
}

func TestGateway_BadInput(t *testing.T) {
	base, _ := startGateway(t, "max_body_bytes: 2048\nservers:\n  - name: demo\n    transport: demo\n")
	id := rawSession(t, base+"/mcp")
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"malformed json", `{"jsonrpc":"2.0","id":1,"method":`, 400, `"code":-32700`},
		{"not json-rpc 2.0", `{"jsonrpc":"1.0","id":1,"method":"tools/list"}`, 400, `"code":-32600`},
		{"no method nor result", `{"jsonrpc":"2.0","id":7}`, 400, `"id":7,"error":{"code":-32600`},
		{"unknown method", `{"jsonrpc":"2.0","id":2,"method":"tools/frobnicate"}`, 200, `"code":-32601,"message":"method not found: tools/frobnicate"`},
		{"unknown server", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope__echo"}}`, 200, `unknown tool \"nope__echo\": no server \"nope\"`},
		{"unknown tool", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"demo__nope","arguments":{}}}`, 200, `nope`},
		{"missing name", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{}}`, 200, `"code":-32602`},
		{"oversized body", `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"demo__echo","arguments":{"message":"` + strings.Repeat("x", 4096) + `"}}}`, 413, "over 2048 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rawPost(t, base+"/mcp", id, tc.body)
			if code != tc.status || !strings.Contains(body, tc.want) {
				t.Fatalf("got %d %s; want %d and %q", code, body, tc.status, tc.want)
			}
		})
	}
	t.Run("foreign origin", func(t *testing.T) {
		code, _ := rawPost(t, base+"/mcp", id, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "Origin", "https://evil.example")
		if code != 403 {
			t.Fatalf("foreign Origin got %d, want 403", code)
		}
		code, _ = rawPost(t, base+"/mcp", id, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "Origin", "http://localhost:3000")
		if code != 200 {
			t.Fatalf("loopback Origin got %d, want 200", code)
		}
	})
	t.Run("unknown endpoint", func(t *testing.T) {
		if code, _ := rawPost(t, base+"/mcp/nope", "", `{}`); code != 404 {
			t.Fatalf("unknown server endpoint got %d", code)
		}
	})
}

func TestGateway_FailingUpstreams(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String() + "/mcp"
	dead.Close() // nothing listens there: connection refused
	base, _ := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n"+
		fmt.Sprintf("  - name: down\n    url: %s\n    connect_timeout: 2s\n", deadURL)+
		fakeServerYAML("crashy", "crash", "")+
		fakeServerYAML("hangs", "hang", "    timeout: 500ms\n")+
		fakeServerYAML("garbled", "garbage", "")+
		strings.Replace(fakeServerYAML("missing", "ok", ""), os.Args[0], "/nonexistent/mcp-server", 1))
	cs := connect(t, base+"/mcp", nil)
	names := toolNames(t, cs)
	if !slices.Contains(names, "demo__echo") || !slices.Contains(names, "crashy__work") {
		t.Fatalf("tools of working servers missing while others are down: %v", names)
	}
	for _, tc := range []struct{ tool, want string }{
		{"down__anything", "upstream down unavailable"},
		{"missing__work", "upstream missing unavailable"},
		{"crashy__work", "upstream crashy"},
		{"hangs__work", "upstream hangs did not answer within 500ms"},
		{"garbled__work", "upstream garbled"},
	} {
		_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tc.tool})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.tool, err, tc.want)
		}
	}
	// Every failure above left the other servers working.
	if got := callText(t, cs, "demo__echo", map[string]any{"message": "still here"}); got != "still here" {
		t.Fatalf("demo after failures: %q", got)
	}
}

func TestGateway_ReplicaFailover(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String() + "/mcp"
	dead.Close()
	live := goSDKServer(t, upstreamServer("replica-b"), false)
	base, _ := startGateway(t, fmt.Sprintf(`
servers:
  - name: pool
    strategy: round_robin
    session: shared
    replicas:
      - url: %s
      - url: %s
`, deadURL, live))
	cs := connect(t, base+"/mcp", nil)
	for i := range 4 {
		if got := callText(t, cs, "pool__whoami", nil); got != "replica-b" {
			t.Fatalf("call %d went to %q", i, got)
		}
	}
}

func TestGateway_RoundRobinSpreadsSharedSessions(t *testing.T) {
	a := goSDKServer(t, upstreamServer("a"), false)
	b := goSDKServer(t, upstreamServer("b"), false)
	base, _ := startGateway(t, fmt.Sprintf("servers:\n  - name: pool\n    session: shared\n    replicas:\n      - url: %s\n      - url: %s\n", a, b))
	cs := connect(t, base+"/mcp", nil)
	seen := map[string]int{}
	for range 6 {
		seen[callText(t, cs, "pool__whoami", nil)]++
	}
	if seen["a"] == 0 || seen["b"] == 0 {
		t.Fatalf("round robin over shared sessions hit %v", seen)
	}
}

func TestGateway_StdioRestartsAfterCrash(t *testing.T) {
	base, _ := startGateway(t, "servers:"+fakeServerYAML("p", "ok", "    restart: {initial: 50ms, max: 200ms}\n"))
	cs := connect(t, base+"/mcp", nil)
	first := callText(t, cs, "p__work", nil)
	var pid int
	fmt.Sscanf(first, "pid %d", &pid)
	if pid == 0 {
		t.Fatalf("unexpected answer %q", first)
	}
	if err := killProcess(pid); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "p__work"})
		if err == nil && !res.IsError && resultText(res) != first {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new process answered after the crash (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGateway_LongNamesAreShortenedAndRouted(t *testing.T) {
	long := strings.Repeat("very_long_tool_name_", 4) // 80 characters
	var calls atomic.Int32
	s := mcp.NewServer(&mcp.Implementation{Name: "long", Version: "1"}, nil)
	for _, suffix := range []string{"a", "b"} {
		mcp.AddTool(s, &mcp.Tool{Name: long + suffix}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			calls.Add(1)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: suffix}}}, nil, nil
		})
	}
	base, _ := startGateway(t, fmt.Sprintf("servers:\n  - name: srv\n    url: %s\n", goSDKServer(t, s, false)))
	cs := connect(t, base+"/mcp", nil)
	names := toolNames(t, cs)
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("names = %v", names)
	}
	for _, n := range names {
		if len(n) > 64 || !strings.HasPrefix(n, "srv__very_long") {
			t.Fatalf("exposed name %q (%d chars)", n, len(n))
		}
	}
	again := toolNames(t, connect(t, base+"/mcp", nil))
	if !slices.Equal(names, again) {
		t.Fatalf("shortening is not deterministic: %v vs %v", names, again)
	}
	got := map[string]bool{callText(t, cs, names[0], nil): true, callText(t, cs, names[1], nil): true}
	if !got["a"] || !got["b"] {
		t.Fatalf("shortened names routed to %v", got)
	}
}

func TestGateway_DeleteClosesUpstreamProcesses(t *testing.T) {
	base, g := startGateway(t, "servers:"+fakeServerYAML("p", "ok", ""))
	cs := connect(t, base+"/mcp", nil)
	var pid int
	fmt.Sscanf(callText(t, cs, "p__work", nil), "pid %d", &pid)
	if !processAlive(pid) {
		t.Fatalf("server process %d not running during the session", pid)
	}
	cs.Close() // DELETE
	waitFor(t, 10*time.Second, func() bool { return !processAlive(pid) }, "stdio server still running after its session closed")
	g.mu.RLock()
	defer g.mu.RUnlock()
	if len(g.sessions) != 0 {
		t.Fatalf("%d sessions left after DELETE", len(g.sessions))
	}
}

func TestGateway_ShutdownFinishesCallsInFlight(t *testing.T) {
	base, g := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	cs := connect(t, base+"/mcp", nil)
	result := make(chan error, 1)
	go func() {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "demo__count_slowly", Arguments: map[string]any{"n": 5, "interval_ms": 100}})
		if err == nil && res.IsError {
			err = fmt.Errorf("tool error: %s", resultText(res))
		}
		result <- err
	}()
	time.Sleep(150 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-result; err != nil {
		t.Fatalf("call in flight during shutdown failed: %v", err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Fatal("gateway still accepts connections after shutdown")
	}
}

func waitFor(t *testing.T, d time.Duration, ok func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A call that dies mid-way may have had an effect, so it is retried on another replica only when
// the tool is annotated read-only or idempotent.
func TestGateway_RetriesOnlySafeToolsAfterMidCallFailure(t *testing.T) {
	base, _ := startGateway(t, fmt.Sprintf(`
servers:
  - name: pool
    restart: {initial: 1ms, max: 1ms}
    replicas:
      - command: %[1]s
        args: ["-test.run=^$"]
        env: {PORTCULLIS_FAKE_SERVER: crash}
      - command: %[1]s
        args: ["-test.run=^$"]
        env: {PORTCULLIS_FAKE_SERVER: ok}
`, os.Args[0]))
	a := connect(t, base+"/mcp", nil)
	toolNames(t, a) // opens a session on the crashing replica and learns the annotations
	if got := callText(t, a, "pool__lookup", nil); !strings.HasPrefix(got, "pid ") {
		t.Fatalf("read-only tool was not retried on the healthy replica: %q", got)
	}
	time.Sleep(5 * time.Millisecond) // the crashed replica's 1ms ejection ends
	b := connect(t, base+"/mcp", nil)
	toolNames(t, b) // round robin puts this session on the crashing replica again
	_, err := b.CallTool(context.Background(), &mcp.CallToolParams{Name: "pool__work"})
	if err == nil || !strings.Contains(err.Error(), "upstream pool failed during the call") {
		t.Fatalf("a tool that may have had an effect was retried or misreported: %v", err)
	}
}

// The client's credential is for the gateway only; an upstream gets what its config says.
func TestGateway_NoTokenPassthrough(t *testing.T) {
	t.Setenv("UPSTREAM_TOKEN", "upstream-secret")
	var mu sync.Mutex
	var seen []string
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstreamServer("u") }, nil)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close) // after the gateway's cleanup, which closes the upstream session
	base, _ := startGateway(t, fmt.Sprintf("servers:\n  - name: u\n    url: %s\n    headers: {Authorization: \"Bearer ${UPSTREAM_TOKEN}\"}\n", ts.URL))
	id := rawSession(t, base+"/mcp", "Authorization", "Bearer client-secret")
	code, body := rawPost(t, base+"/mcp", id, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"u__whoami"}}`, "Authorization", "Bearer client-secret")
	if code != 200 || !strings.Contains(body, `"text":"u"`) {
		t.Fatalf("call: %d %s", code, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("upstream saw no request")
	}
	for _, a := range seen {
		if a != "Bearer upstream-secret" {
			t.Fatalf("upstream saw Authorization %q", a)
		}
	}
}

func TestGateway_IdleSessionsExpireWithTheirProcesses(t *testing.T) {
	base, g := startGateway(t, "session_idle_timeout: 300ms\nservers:"+fakeServerYAML("p", "ok", ""))
	id := rawSession(t, base+"/mcp")
	_, body := rawPost(t, base+"/mcp", id, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"p__work"}}`)
	var pid int
	if i := strings.Index(body, "pid "); i >= 0 {
		fmt.Sscanf(body[i:], "pid %d", &pid)
	}
	if !processAlive(pid) {
		t.Fatalf("no live server process after a call: %s", body)
	}
	waitFor(t, 10*time.Second, func() bool { return !processAlive(pid) }, "idle session's server process still running")
	g.mu.RLock()
	left := len(g.sessions)
	g.mu.RUnlock()
	if left != 0 {
		t.Fatalf("%d sessions left", left)
	}
	// The client may come back: its sealed id resumes the session, with a new server process.
	_, body = rawPost(t, base+"/mcp", id, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"p__work"}}`)
	var again int
	if i := strings.Index(body, "pid "); i >= 0 {
		fmt.Sscanf(body[i:], "pid %d", &again)
	}
	if again == 0 || again == pid {
		t.Fatalf("resumed session: %s (old pid %d)", body, pid)
	}
}

// A replica that stops accepting connections is ejected by the health check before a call has
// to find out, and readmitted when it is back.
func TestGateway_HealthCheckEjectsAndReadmits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	srv := &http.Server{Handler: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return upstreamServer("flaky") }, nil)}
	go srv.Serve(ln)
	_, g := startGateway(t, fmt.Sprintf("servers:\n  - name: f\n    url: http://%s/mcp\n    health_interval: 50ms\n    connect_timeout: 200ms\n", addr))
	replica := g.pipeline.Load().Server("f").Replicas[0]
	srv.Close()
	waitFor(t, 5*time.Second, func() bool { return !replica.Up(time.Now()) }, "health check did not eject a replica that refuses connections")
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	srv = &http.Server{Handler: srv.Handler}
	go srv.Serve(ln)
	defer srv.Close()
	waitFor(t, 5*time.Second, func() bool { return replica.Up(time.Now()) }, "health check did not readmit the replica")
}

func TestGateway_UnprefixedServerOnTheAggregate(t *testing.T) {
	other := goSDKServer(t, upstreamServer("other"), false)
	base, _ := startGateway(t, fmt.Sprintf("servers:\n  - name: demo\n    transport: demo\n    unprefixed: true\n  - name: other\n    url: %s\n", other))
	cs := connect(t, base+"/mcp", nil)
	names := toolNames(t, cs)
	if !slices.Contains(names, "echo") || !slices.Contains(names, "other__whoami") || slices.Contains(names, "demo__echo") {
		t.Fatalf("tools = %v", names)
	}
	if got := callText(t, cs, "echo", map[string]any{"message": "bare"}); got != "bare" {
		t.Fatalf("echo = %q", got)
	}
	if got := callText(t, cs, "other__whoami", nil); got != "other" {
		t.Fatalf("other__whoami = %q", got)
	}
}

// DNS rebinding: a page served from evil.example.com that rebinds the name to 127.0.0.1 sends
// Host and Origin of evil.example.com; on a loopback listener that is refused.
func TestGateway_RefusesRebindingHost(t *testing.T) {
	base, _ := startGateway(t, "servers:\n  - name: demo\n    transport: demo\n")
	init := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(init))
	req.Host = "evil.example.com"
	req.Header.Set("Origin", "http://evil.example.com")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("rebinding Host got %d, want 403", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, strings.Replace(base, "127.0.0.1", "localhost", 1)+"/mcp", strings.NewReader(init))
	req.Header.Set("Content-Type", "application/json")
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("localhost Host: %v %v", err, resp.StatusCode)
	}
	resp.Body.Close()
}

// A session opened on one replica is served by another that shares the session key, without a
// shared store; a tampered id, another caller, or a replica with another key get 404, and an id
// ended with DELETE does not come back.
func TestGateway_SealedSessionsMoveBetweenReplicas(t *testing.T) {
	servers := "session_key: one key for the whole cluster\nservers:\n  - name: demo\n    transport: demo\n"
	a, _ := startGateway(t, servers)
	b, _ := startGateway(t, servers)
	c, _ := startGateway(t, strings.Replace(servers, "one key", "another key", 1))
	id := rawSession(t, a+"/mcp", "Authorization", "Bearer alice")
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"demo__echo","arguments":{"message":"moved"}}}`
	if code, body := rawPost(t, b+"/mcp", id, call, "Authorization", "Bearer alice"); code != 200 || !strings.Contains(body, `"text":"moved"`) {
		t.Fatalf("replica b with the same key: %d %s", code, body)
	}
	tampered := []byte(id)
	tampered[20] ^= 2
	for name, tc := range map[string]struct{ url, id, auth string }{
		"other key":    {c, id, "Bearer alice"},
		"other caller": {b, id, "Bearer mallory"},
		"tampered":     {b, string(tampered), "Bearer alice"},
	} {
		if code, _ := rawPost(t, tc.url+"/mcp", tc.id, call, "Authorization", tc.auth); code != 404 {
			t.Errorf("%s: %d, want 404", name, code)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, b+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", id)
	req.Header.Set("Authorization", "Bearer alice")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 204 {
		t.Fatalf("DELETE: %v %v", err, resp)
	}
	if code, _ := rawPost(t, b+"/mcp", id, call, "Authorization", "Bearer alice"); code != 404 {
		t.Fatalf("ended session came back: %d", code)
	}
}
