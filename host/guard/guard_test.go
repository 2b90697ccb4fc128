package guard

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/demo"
	"github.com/portcullis-mcp/portcullis/host/gateway"
	"github.com/portcullis-mcp/portcullis/host/internal/gwtest"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/record"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// buildExample compiles the guardrail of sdk/go/README.md with the real toolchain, as a user
// following the README would.
func buildExample(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "no-destruction.wasm")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "../../sdk/go/example")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the SDK example: %v\n%s", err, b)
	}
	return out
}

type recorded struct {
	mu   sync.Mutex
	recs []string
}

func (r *recorded) add(rec []byte) {
	r.mu.Lock()
	r.recs = append(r.recs, string(rec))
	r.mu.Unlock()
}

// start runs a gateway with the plugins and bindings of yaml, in front of the demo server.
func start(t *testing.T, yaml string) (*mcp.ClientSession, *recorded) {
	return startWithEvents(t, yaml, nil)
}

func startWithEvents(t *testing.T, yaml string, events plugin.EventSink) (*mcp.ClientSession, *recorded) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng, err := plugin.NewEngine(plugin.EngineConfig{CacheDir: t.TempDir(), Logger: log, Events: events})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	guards, err := Load(ctx, eng, cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	recs := &recorded{}
	queue := record.NewQueue(nil, 1024, log, func(rec []byte) { recs.add(rec); guards.Audit(ctx, rec) })
	t.Cleanup(func() { // after the gateway's own cleanup below
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		queue.Close()
		guards.Close(sctx)
		eng.Close(sctx)
	})
	g := gwtest.Start(t, yaml, gateway.Options{Log: log, Guards: guards, Records: queue,
		Env: upstream.Env{Log: log, Demo: demo.Serve, Route: guards.Route}})
	client := mcp.NewClient(&mcp.Implementation{Name: "guarded", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: g.URL + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, recs
}

func echo(cs *mcp.ClientSession, tool, msg string) (string, error) {
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: tool, Arguments: map[string]any{"message": msg}})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), nil
}

// The README's guardrail, built from source and bound in the config, blocks and redacts live
// traffic through the gateway in front of a real server, and the record names its version.
func TestGuards_SDKExampleBlocksAndRedacts(t *testing.T) {
	cs, recs := start(t, fmt.Sprintf(`
servers:
  - name: demo
    transport: demo
plugins:
  - name: no-destruction
    version: 1.0.0
    path: %s
    hooks: [request_guard, response_guard]
    timeout: 5s
bindings:
  - name: no-rm
    plugin: no-destruction
    config: {deny: ["rm -rf", "drop table"]}
    servers: ["demo"]
`, buildExample(t)))
	if _, err := echo(cs, "demo__echo", "please rm -rf / now"); err == nil || !strings.Contains(err.Error(), "denied phrase in arguments: rm -rf") {
		t.Fatalf("dangerous call: %v", err)
	}
	got, err := echo(cs, "demo__echo", "the key is AKIAABCDEFGHIJKLMNOP, keep it")
	if err != nil || got != "the key is [REDACTED], keep it" {
		t.Fatalf("redaction: %q %v", got, err)
	}
	if got, err := echo(cs, "demo__echo", "harmless"); err != nil || got != "harmless" {
		t.Fatalf("harmless call: %q %v", got, err)
	}
	waitFor(t, func() bool {
		recs.mu.Lock()
		defer recs.mu.Unlock()
		for _, r := range recs.recs {
			if strings.Contains(r, `"name":"echo"`) && strings.Contains(r, `"plugins":["no-destruction@1.0.0"]`) && strings.Contains(r, "blocked by no-rm") {
				return true
			}
		}
		return false
	})
}

// A plugin that never returns is stopped at its deadline: fail-closed answers with an error,
// fail-open lets the call through, and monitor mode only records.
func TestGuards_RunawayPluginFollowsFailurePolicy(t *testing.T) {
	script, err := filepath.Abs("../plugin/testdata/script.wasm")
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := start(t, fmt.Sprintf(`
servers:
  - {name: closed, transport: demo}
  - {name: open, transport: demo}
  - {name: watched, transport: demo}
plugins:
  - name: spinner
    version: 0.1.0
    path: %s
    hooks: [request_guard]
    timeout: 50ms
bindings:
  - {name: spin-closed, plugin: spinner, config: "S", servers: [closed], tools: [echo]}
  - {name: spin-open, plugin: spinner, config: "S", servers: [open], tools: [echo], on_failure: fail-open}
  - {name: spin-watched, plugin: spinner, config: "S", servers: [watched], tools: [echo], mode: monitor}
`, script))
	start := time.Now()
	if _, err := echo(cs, "closed__echo", "x"); err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("fail-closed: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("the runaway plugin was not stopped near its 50ms deadline (%v)", time.Since(start))
	}
	for _, tool := range []string{"open__echo", "watched__echo"} {
		if got, err := echo(cs, tool, "through"); err != nil || got != "through" {
			t.Fatalf("%s: %q %v", tool, got, err)
		}
	}
	// Calls the spinning binding does not cover are not held up.
	if got, err := echo(cs, "closed__add", ""); err != nil && strings.Contains(err.Error(), "blocked") {
		t.Fatalf("unbound tool was blocked: %q %v", got, err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A routing plugin bound to a server with replicas chooses the replica of every call.
func TestGuards_RoutePluginPicksReplica(t *testing.T) {
	script, _ := filepath.Abs("../plugin/testdata/script.wasm")
	pick := func(name string) string {
		s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
		mcp.AddTool(s, &mcp.Tool{Name: "whoami"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil, nil
		})
		ts := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	a, b := pick("replica-a"), pick("replica-b")
	verdict := hex.EncodeToString(abi.AppendVerdict(nil, &abi.Verdict{Action: abi.ActionRoute, Replica: 1}))
	cs, _ := start(t, fmt.Sprintf(`
servers:
  - name: pool
    session: shared
    replicas: [{url: %s}, {url: %s}]
plugins:
  - {name: router, version: 1.0.0, path: %s, hooks: [route]}
bindings:
  - {name: always-second, plugin: router, config: %q, servers: [pool]}
`, a, b, script, verdict))
	for range 4 {
		res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "pool__whoami"})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; got != "replica-b" {
			t.Fatalf("routing plugin chose replica 1, call went to %q", got)
		}
	}
}

// An audit sink receives every finished call, off the request path.
func TestGuards_AuditSinkSeesFinishedCalls(t *testing.T) {
	script, _ := filepath.Abs("../plugin/testdata/script.wasm")
	var mu sync.Mutex
	seen := 0
	cs, _ := startWithEvents(t, fmt.Sprintf(`
servers:
  - {name: demo, transport: demo}
plugins:
  - {name: sink, version: 1.0.0, path: %s, hooks: [audit]}
bindings:
  - {name: audit-all, plugin: sink, config: "E"}
`, script), func(id string, _, _ []byte) {
		if id == "sink@1.0.0" {
			mu.Lock()
			seen++
			mu.Unlock()
		}
	})
	for range 3 {
		if _, err := echo(cs, "demo__echo", "audited"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return seen >= 3 })
}
