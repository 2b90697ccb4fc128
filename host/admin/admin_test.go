package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/portcullis-mcp/portcullis/host/admin"
	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/demo"
	"github.com/portcullis-mcp/portcullis/host/gateway"
	"github.com/portcullis-mcp/portcullis/host/internal/gwtest"
	"github.com/portcullis-mcp/portcullis/host/pipeline"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/record"
	"github.com/portcullis-mcp/portcullis/host/store"
	"github.com/portcullis-mcp/portcullis/host/upstream"
	"github.com/portcullis-mcp/portcullis/registry"
)

const token = "test-admin-token-0123456789"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "plugin", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stack is a real gateway in front of the demo server, a registry on real Badger, and the admin
// API on real HTTP, wired as `portcullis serve` wires them.
type stack struct {
	gw      *gwtest.Gateway
	reg     *registry.Registry
	live    *registry.Live
	api     *httptest.Server
	client  *admin.Client
	mu      sync.Mutex
	records []record.Record
}

const gatewayYAML = "servers:\n  - name: demo\n    transport: demo\n"

func startStack(t testing.TB) *stack {
	t.Helper()
	s := &stack{}
	db, err := store.Open(t.TempDir(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := plugin.NewEngine(plugin.EngineConfig{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if s.reg, err = registry.Open(db, registry.Options{Engine: eng, Log: quiet}); err != nil {
		t.Fatal(err)
	}
	var gw *gwtest.Gateway
	s.live = registry.NewLive(eng, func(g pipeline.Guards, drained func()) <-chan struct{} { return gw.SwapGuards(g, drained) }, registry.Static{})
	t.Cleanup(func() { // after the gateway's own cleanup below
		ctx := context.Background()
		s.live.Close(ctx)
		eng.Close(ctx)
		db.Close()
	})
	queue := record.NewQueue(nil, 1<<16, quiet, func(b []byte) {
		var r record.Record
		json.Unmarshal(b, &r)
		s.mu.Lock()
		s.records = append(s.records, r)
		s.mu.Unlock()
	})
	t.Cleanup(queue.Close)
	gw = gwtest.Start(t, gatewayYAML, gateway.Options{Log: quiet, Records: queue, Env: upstream.Env{Log: quiet, Demo: demo.Serve}})
	s.gw = gw
	s.reg.SetPipeline(s.live)
	if err := s.reg.Activate(context.Background(), "test"); err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Parse([]byte(gatewayYAML))
	api, err := admin.New(admin.Options{Token: token, Registry: s.reg, Live: s.live, Gateway: gw.Gateway, Config: cfg, MaxUploadBytes: 4096, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	s.api = httptest.NewServer(api)
	t.Cleanup(s.api.Close)
	s.client = &admin.Client{URL: s.api.URL, Token: token}
	return s
}

func (s *stack) mcpClient(t testing.TB) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "admin-test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: s.gw.URL + "/mcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func (s *stack) do(t testing.TB, method, path string, body io.Reader, header map[string]string) (*http.Response, admin.Error) {
	t.Helper()
	req, _ := http.NewRequest(method, s.api.URL+path, body)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e admin.Error
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &e)
	return resp, e
}

func (s *stack) lastEvent(t testing.TB) registry.Event {
	evs, err := s.reg.Events(1)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events: %v %v", evs, err)
	}
	return evs[0]
}

func (s *stack) push(t testing.TB, wasm []byte, name, version string) {
	t.Helper()
	// A generous deadline: under the race detector on two busy cores a 50ms one can pass while
	// the goroutine waits to be scheduled, and this test is about swaps, not deadlines.
	m := `{"name":"` + name + `","version":"` + version + `","hooks":["request_guard","response_guard"],"timeout_ms":1000}`
	if _, err := s.client.Push(context.Background(), wasm, []byte(m), nil); err != nil {
		t.Fatal(err)
	}
}

// A request without the token, with a wrong one, or from a foreign Origin is refused with a JSON
// error, recorded, and changes nothing.
func TestAdmin_Refusals(t *testing.T) {
	s := startStack(t)
	before := s.gw.Pipeline().Load()
	tests := []struct {
		name   string
		header map[string]string
		status int
		code   string
	}{
		{"no token", nil, 401, "unauthorized"},
		{"wrong token", map[string]string{"Authorization": "Bearer " + token + "x"}, 401, "unauthorized"},
		{"not bearer", map[string]string{"Authorization": "Basic " + token}, 401, "unauthorized"},
		{"foreign origin", map[string]string{"Authorization": "Bearer " + token, "Origin": "https://evil.example"}, 403, "forbidden_origin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, e := s.do(t, "PUT", "/v1/bindings/x", strings.NewReader(`{"plugin":"g"}`), tt.header)
			if resp.StatusCode != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, e, tt.status, tt.code)
			}
			if ev := s.lastEvent(t); ev.Action != "admin.refused" || ev.Code != tt.code || ev.OK {
				t.Errorf("event %+v", ev)
			}
			if s.gw.Pipeline().Load() != before {
				t.Error("pipeline changed")
			}
		})
	}
	resp, _ := s.do(t, "GET", "/healthz", nil, map[string]string{"Authorization": "Bearer " + token})
	if resp.StatusCode != 200 {
		t.Errorf("healthz with the token: %d", resp.StatusCode)
	}
}

// Upload refusals over HTTP get the registry's codes with fitting statuses, are recorded, and
// change nothing.
func TestAdmin_UploadRefusals(t *testing.T) {
	s := startStack(t)
	auth := map[string]string{"Authorization": "Bearer " + token}
	form := func(parts map[string][]byte) (io.Reader, map[string]string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for k, v := range parts {
			w, _ := mw.CreateFormFile(k, k)
			w.Write(v)
		}
		mw.Close()
		return &b, map[string]string{"Authorization": "Bearer " + token, "Content-Type": mw.FormDataContentType()}
	}
	man := []byte(`{"name":"g","version":"1.0.0","hooks":["request_guard"]}`)
	for _, tt := range []struct {
		name   string
		parts  map[string][]byte
		status int
		code   string
	}{
		{"over the size limit", map[string][]byte{"wasm": bytes.Repeat([]byte{0}, 8192), "manifest": man}, 413, "too_large"},
		{"not wasm", map[string][]byte{"wasm": []byte("MZ\x90\x00 not wasm"), "manifest": man}, 422, "module_refused"},
		{"no manifest", map[string][]byte{"wasm": fixture(t, "allow.wasm")}, 400, "invalid"},
		{"unknown manifest field", map[string][]byte{"wasm": fixture(t, "allow.wasm"), "manifest": []byte(`{"name":"g","version":"1.0.0","hooks":["request_guard"],"run_as":"root"}`)}, 422, "bad_manifest"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, h := form(tt.parts)
			resp, e := s.do(t, "POST", "/v1/plugins", body, h)
			if resp.StatusCode != tt.status || e.Error.Code != tt.code {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, e, tt.status, tt.code)
			}
			if ev := s.lastEvent(t); ev.Action != "plugin.upload" || ev.Code != tt.code {
				t.Errorf("event %+v", ev)
			}
			if vs, _ := s.client.Plugins(context.Background()); len(vs) != len(mustList(t, s)) || hasName(vs, "g") {
				t.Errorf("stored: %+v", vs)
			}
		})
	}
	// A stale If-Match gets 412.
	s.push(t, fixture(t, "allow.wasm"), "g", "1.0.0")
	resp, e := s.do(t, "PUT", "/v1/bindings/b", strings.NewReader(`{"plugin":"g"}`), map[string]string{"Authorization": auth["Authorization"], "If-Match": `"41"`})
	if resp.StatusCode != 412 || e.Error.Code != "conflict" {
		t.Fatalf("stale If-Match: %d %+v", resp.StatusCode, e)
	}
}

func mustList(t testing.TB, s *stack) []registry.Version {
	vs, err := s.reg.List()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func hasName(vs []registry.Version, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}

// The OpenAPI document lists every route, and every route it lists is served (answers JSON, not
// the mux's plain-text 404/405).
func TestAdmin_OpenAPI(t *testing.T) {
	s := startStack(t)
	auth := map[string]string{"Authorization": "Bearer " + token}
	req, _ := http.NewRequest("GET", s.api.URL+"/openapi.json", nil)
	req.Header.Set("Authorization", auth["Authorization"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	n := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			n++
			concrete := strings.NewReplacer("{name}", "nosuch", "{version}", "9.9.9").Replace(path)
			body := io.Reader(strings.NewReader("{}"))
			if strings.HasSuffix(path, "/reload") {
				body = nil
			}
			resp, _ := s.do(t, strings.ToUpper(method), concrete, body, auth)
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 204 && ct != "application/json" {
				t.Errorf("%s %s: %d %s: not served by a route", method, path, resp.StatusCode, ct)
			}
		}
	}
	for _, want := range []string{"post /v1/plugins", "get /v1/plugins", "get /v1/plugins/{name}/{version}", "delete /v1/plugins/{name}/{version}",
		"put /v1/bindings/{name}", "delete /v1/bindings/{name}", "post /v1/bindings/reorder", "post /v1/bindings/{name}/rollback",
		"get /v1/servers", "post /v1/config/reload", "get /healthz", "get /readyz"} {
		method, path, _ := strings.Cut(want, " ")
		if _, ok := doc.Paths[path][method]; !ok {
			t.Errorf("document lacks %s", want)
		}
	}
	if n < 16 {
		t.Errorf("document lists %d operations", n)
	}
}

func TestAdmin_Servers(t *testing.T) {
	s := startStack(t)
	resp, _ := s.do(t, "GET", "/v1/servers", nil, map[string]string{"Authorization": "Bearer " + token})
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	req, _ := http.NewRequest("GET", s.api.URL+"/v1/servers", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var out struct {
		Servers []admin.ServerInfo `json:"servers"`
	}
	json.NewDecoder(r.Body).Decode(&out)
	if len(out.Servers) != 1 || out.Servers[0].Name != "demo" || len(out.Servers[0].Replicas) != 1 || !out.Servers[0].Replicas[0].Healthy {
		t.Fatalf("servers %+v", out.Servers)
	}
}

// 100 swaps and rollbacks of a guard under steady load from concurrent MCP clients: no request
// fails, every record names exactly one version of the guard, and goroutines, open files and
// loaded plugin versions return to their baseline.
func TestAdmin_HotSwapUnderLoad(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	allow := fixture(t, "allow.wasm")
	s.push(t, allow, "g", "1.0.0")
	s.push(t, allow, "g", "1.1.0")
	if _, err := s.client.Bind(ctx, "g", func(b *registry.Binding) { b.Plugin, b.Version = "g", "1.0.0" }); err != nil {
		t.Fatal(err)
	}
	const clients = 4
	sessions := make([]*mcp.ClientSession, clients)
	for i := range sessions {
		sessions[i] = s.mcpClient(t)
		if _, err := sessions[i].CallTool(ctx, &mcp.CallToolParams{Name: "demo__echo", Arguments: map[string]any{"message": "warm"}}); err != nil {
			t.Fatal(err)
		}
	}
	var calls, failures atomic.Int64
	var firstErr atomic.Value
	load := func() (stop func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		for _, cs := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "demo__echo", Arguments: map[string]any{"message": "hi"}})
					calls.Add(1)
					if err == nil && res.IsError {
						err = io.ErrUnexpectedEOF
					}
					if err != nil {
						failures.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}
			}()
		}
		return func() { close(done); wg.Wait() }
	}
	// The baseline is taken after the same load without swaps, so that connections and workers
	// that load alone opens are in it.
	stop := load()
	time.Sleep(300 * time.Millisecond)
	stop()
	http.DefaultClient.CloseIdleConnections()
	runtime.GC()
	baseGoroutines, baseFDs := runtime.NumGoroutine(), openFiles(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	warm := calls.Load()

	stop = load()
	start := time.Now()
	const swaps = 100
	for i := range swaps {
		var err error
		if i%2 == 0 {
			_, err = s.client.Bind(ctx, "g", func(b *registry.Binding) { b.Version = "1.1.0" })
		} else {
			_, err = s.client.Rollback(ctx, "g")
		}
		if err != nil {
			t.Fatalf("swap %d: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	time.Sleep(50 * time.Millisecond) // a little load on the last version too
	stop()
	if err := s.live.Settled(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d swaps in %v under load: %d calls, %d failed", swaps, elapsed.Round(time.Millisecond), calls.Load()-warm, failures.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d of %d calls failed; first: %v", failures.Load(), calls.Load(), firstErr.Load())
	}
	if calls.Load()-warm < swaps {
		t.Errorf("only %d calls during %d swaps: the load was not steady", calls.Load()-warm, swaps)
	}
	if st, _ := s.client.Bindings(ctx); st.Bindings[0].Version != "1.0.0" || st.Revision != swaps+1 {
		t.Errorf("after an even number of swaps: %+v", st)
	}
	if n := s.live.Loaded(); n != 1 {
		t.Errorf("%d plugin versions loaded, want the bound one", n)
	}

	// Every tools/call record names exactly one version of g: its request and response saw the
	// same snapshot.
	toolCalls := func() (n int64) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, r := range s.records {
			if r.Method == "tools/call" {
				n++
			}
		}
		return n
	}
	waitFor(t, "records", func() bool { return toolCalls() >= calls.Load()+clients })
	s.mu.Lock()
	seen := map[string]int{}
	for _, r := range s.records {
		if r.Method != "tools/call" {
			continue
		}
		if len(r.Plugins) != 1 || (r.Plugins[0] != "g@1.0.0" && r.Plugins[0] != "g@1.1.0") {
			t.Errorf("record names %v", r.Plugins)
			break
		}
		seen[r.Plugins[0]]++
	}
	s.mu.Unlock()
	if seen["g@1.0.0"] == 0 || seen["g@1.1.0"] == 0 {
		t.Errorf("calls per version %v: both versions should have served", seen)
	}

	http.DefaultClient.CloseIdleConnections()
	if !eventually(func() bool { return runtime.NumGoroutine() <= baseGoroutines+4 && openFiles(t) <= baseFDs+2 }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines %d (baseline %d), open files %d (baseline %d):\n%s", runtime.NumGoroutine(), baseGoroutines,
			openFiles(t), baseFDs, buf[:runtime.Stack(buf, true)])
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("heap %d KiB before, %d KiB after; goroutines %d/%d; fds %d/%d",
		baseHeap>>10, ms.HeapAlloc>>10, baseGoroutines, runtime.NumGoroutine(), baseFDs, openFiles(t))
	if ms.HeapAlloc > baseHeap+64<<20 {
		t.Errorf("heap grew from %d to %d KiB", baseHeap>>10, ms.HeapAlloc>>10)
	}
}

func openFiles(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	if !eventually(ok) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// eventually polls ok for up to 10s.
func eventually(ok func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return false
		}
	}
	return true
}
