package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/portcullis-mcp/portcullis/host/gateway"
	"github.com/portcullis-mcp/portcullis/host/internal/gwtest"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// npmDir holds the pinned npm fixtures (package.json, package-lock.json, node_modules).
const npmDir = "testdata/npm"

// fixtures are the absolute paths the tests run: node and the servers' entry scripts.
type fixtures struct {
	node       string
	everything string // server-everything: stdio | sse | streamableHttp
	filesystem string // server-filesystem DIR...
	memory     string // server-memory, state in MEMORY_FILE_PATH
	npm        string // the npm fixtures folder, for scripts that import the TypeScript SDK
}

var lookupFixtures = sync.OnceValues(func() (fixtures, error) {
	dir, err := filepath.Abs(npmDir)
	if err != nil {
		return fixtures{}, err
	}
	f := fixtures{npm: dir}
	if f.node, err = exec.LookPath("node"); err != nil {
		return f, errors.New("node is not on PATH")
	}
	entry := func(pkg string) string {
		return filepath.Join(dir, "node_modules", "@modelcontextprotocol", pkg, "dist", "index.js")
	}
	f.everything, f.filesystem, f.memory = entry("server-everything"), entry("server-filesystem"), entry("server-memory")
	for _, p := range []string{f.everything, f.filesystem, f.memory, filepath.Join(dir, "node_modules", "@modelcontextprotocol", "sdk", "package.json")} {
		if _, err := os.Stat(p); err != nil {
			return f, fmt.Errorf("npm fixtures are not installed (%v); run `make npm-deps`", err)
		}
	}
	return f, nil
})

// prepare returns the fixtures and a context that bounds the test: every call it makes fails
// instead of hanging past d. It skips the test when the fixtures are missing on a developer's
// machine; under CI that is a failure, since a skipped e2e suite must not pass for green.
func prepare(t *testing.T, d time.Duration) (fixtures, context.Context) {
	t.Helper()
	f, err := lookupFixtures()
	if err != nil {
		if ci := os.Getenv("CI"); ci != "" && ci != "0" && ci != "false" {
			t.Fatalf("CI=%s and the e2e fixtures are unusable: %v", ci, err)
		}
		t.Skipf("skipping end-to-end test: %v (set CI=true to make this a failure)", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return f, ctx
}

// logBuffer collects the gateway's and the servers' logs and shows them only when a test fails:
// they are what explains a failure, and noise otherwise. It outlives the test safely, unlike
// t.Log, because goroutines may still log while cleanups run.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogBuffer(t *testing.T, name string) *logBuffer {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s log ---\n%s", name, b.String())
		}
	})
	return b
}

// startGateway runs a gateway configured by the YAML text, logging into the test's log buffer. It
// is shut down when the test ends.
func startGateway(t *testing.T, yamlText string) *gwtest.Gateway {
	t.Helper()
	log := slog.New(slog.NewTextHandler(newLogBuffer(t, "gateway"), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return gwtest.Start(t, yamlText, gateway.Options{Log: log, Env: upstream.Env{Log: log}})
}

// servers renders the config of a gateway in front of the given servers (YAML list items).
func servers(items ...string) string {
	return "listen: 127.0.0.1:0\nshutdown_timeout: 15s\nservers:\n" + strings.Join(items, "")
}

// stdioServer renders one stdio server item; env may be nil.
func stdioServer(name, command string, args []string, env map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  - name: %s\n    command: %s\n    args: [", name, strconv.Quote(command))
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(a))
	}
	b.WriteString("]\n")
	if len(env) > 0 {
		b.WriteString("    env:\n")
		for k, v := range env {
			fmt.Fprintf(&b, "      %s: %s\n", k, strconv.Quote(v))
		}
	}
	return b.String()
}

// urlServer renders one server reached by URL; transport is "http" or "sse".
func urlServer(name, url, transport string) string {
	return fmt.Sprintf("  - name: %s\n    url: %s\n    transport: %s\n", name, strconv.Quote(url), transport)
}

// everythingGateway fronts server-everything twice, as "everything" over stdio and as
// "everything_http" over Streamable HTTP, then the servers in more.
func everythingGateway(t *testing.T, f fixtures, more ...string) *gwtest.Gateway {
	t.Helper()
	httpURL := startHTTPEverything(t, f, "streamableHttp")
	return startGateway(t, servers(append([]string{
		stdioServer("everything", f.node, []string{f.everything, "stdio"}, nil),
		urlServer("everything_http", httpURL+"/mcp", "http"),
	}, more...)...))
}

// startHTTPEverything runs server-everything as its own process serving transport
// ("streamableHttp" or "sse") on a free port of 127.0.0.1 only (testdata/npm/loopback.cjs), and returns its base URL once it accepts
// connections. The process is killed when the test ends.
func startHTTPEverything(t *testing.T, f fixtures, transport string) string {
	t.Helper()
	url, _ := runHTTPEverything(t, f, transport, freePort(t))
	return url
}

// runHTTPEverything is startHTTPEverything on a given port; kill ends the process before the
// test does.
func runHTTPEverything(t *testing.T, f fixtures, transport string, port int) (url string, kill func()) {
	t.Helper()
	logs := newLogBuffer(t, "server-everything "+transport)
	cmd := exec.Command(f.node, "--require", filepath.Join(f.npm, "loopback.cjs"), f.everything, transport)
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start server-everything %s: %v", transport, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	kill = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
	t.Cleanup(kill)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr, kill
		}
		select {
		case <-exited:
			t.Fatalf("server-everything %s exited before listening on %s:\n%s", transport, addr, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server-everything %s not listening on %s after 30s", transport, addr)
		}
	}
}

// freePort returns a loopback port that was free a moment ago. Node servers take a port number,
// not a listener, so there is a short window in which another process could take it.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// connect opens a session of a go-sdk client with opts on endpoint, closed when the test ends.
func connect(t *testing.T, ctx context.Context, endpoint string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	return connectClient(t, ctx, endpoint, mcp.NewClient(&mcp.Implementation{Name: "portcullis-e2e", Version: "1.0.0"}, opts))
}

// connectClient opens a session of client on endpoint with the transport's default settings,
// as an application would, closed when the test ends.
func connectClient(t *testing.T, ctx context.Context, endpoint string, client *mcp.Client) *mcp.ClientSession {
	t.Helper()
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint}, nil)
	if err != nil {
		t.Fatalf("connect to %s: %v", endpoint, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// callTool calls a tool and returns the text of its result, failing the test on any error,
// including a result the tool marked as an error.
func callTool(t *testing.T, ctx context.Context, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("tools/call %s returned a tool error: %s", name, resultText(res))
	}
	return resultText(res)
}

// callOutcome is how a call made in the background ended.
type callOutcome struct {
	res *mcp.CallToolResult
	err error
}

// failure returns why the call failed, the tool's own error included, or nil if it succeeded.
func (o callOutcome) failure() error {
	switch {
	case o.err != nil:
		return o.err
	case o.res.IsError:
		return errors.New(resultText(o.res))
	}
	return nil
}

// callAsync calls a tool in the background.
func callAsync(ctx context.Context, cs *mcp.ClientSession, name string, args any) <-chan callOutcome {
	out := make(chan callOutcome, 1)
	go func() {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		out <- callOutcome{res, err}
	}()
	return out
}

// resultText joins the text blocks of a tool result.
func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// toolNames lists the tools an endpoint shows, by name.
func toolNames(t *testing.T, ctx context.Context, cs *mcp.ClientSession) map[string]*mcp.Tool {
	t.Helper()
	res, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	names := map[string]*mcp.Tool{}
	for _, tool := range res.Tools {
		if _, dup := names[tool.Name]; dup {
			t.Errorf("tools/list shows %q twice", tool.Name)
		}
		names[tool.Name] = tool
	}
	return names
}
