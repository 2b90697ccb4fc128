package assemblyscript_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/abi/abitest"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
)

// asc is the compiler `make npm-deps` installs from package-lock.json.
const asc = "node_modules/assemblyscript/bin/asc.js"

// guests are the modules of sources, built once per test binary with the
// real compiler; built modules are never committed.
var guests struct {
	once sync.Once
	dir  string
	err  error
}

// compiler returns the node binary, skipping (or failing in CI) when node
// or the npm dependencies are missing.
func compiler(t testing.TB) string {
	t.Helper()
	node := plugintest.Tool(t, "node")
	if _, err := os.Stat(asc); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s missing: `make npm-deps` installs it", asc)
		}
		t.Skipf("%s missing: run `make npm-deps`", asc)
	}
	return node
}

// run runs a command in dir with a deadline, returning its output on failure.
func run(dir, name string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// sources are the guests the tests build, by name.
var sources = map[string]string{
	"example":     "example/index.ts",
	"conformance": "conformance/index.ts",
	"router":      "testdata/router.ts",
	"selftest":    "testdata/selftest.ts",
}

// build compiles every guest and returns the path of name's module.
func build(t testing.TB, name string) string {
	t.Helper()
	node := compiler(t)
	guests.once.Do(func() {
		if guests.dir, guests.err = os.MkdirTemp("", "sdk-as-guests"); guests.err != nil {
			return
		}
		errs := make(chan error, len(sources))
		for g, src := range sources { // in parallel: each compile is one busy core for seconds
			go func() {
				errs <- run(".", node, asc, src, "--config", "asconfig.json", "-o", filepath.Join(guests.dir, g+".wasm"))
			}()
		}
		for range sources {
			guests.err = errors.Join(guests.err, <-errs)
		}
	})
	if guests.err != nil {
		t.Fatal(guests.err)
	}
	return filepath.Join(guests.dir, name+".wasm")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if guests.dir != "" {
		os.RemoveAll(guests.dir)
	}
	os.Exit(code)
}

func wasmOf(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(build(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// abortLine is where the conformance guest throws, as the SDK reports it.
func abortLine(t *testing.T) string {
	f, err := os.Open("conformance/index.ts")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if col := strings.Index(sc.Text(), `throw new Error("conformance guest asked to panic")`); col >= 0 {
			return fmt.Sprintf("ERROR portcullis: request_guard handler aborted: conformance guest asked to panic (conformance/index.ts:%d:%d)", n, col+1)
		}
	}
	t.Fatal("no throw in conformance/index.ts")
	return ""
}

func TestGuest_Conformance(t *testing.T) {
	plugintest.Conformance(t, wasmOf(t, "conformance"), abortLine(t))
}

// TestGuest_ReasonCut checks that a block reason over the ABI's 1024 bytes
// is cut at a character boundary rather than making the verdict malformed.
func TestGuest_ReasonCut(t *testing.T) {
	p, _ := plugintest.Load(t, wasmOf(t, "conformance"), plugin.Spec{})
	in := abi.Input{Hook: abi.HookRequestGuard, Frame: []byte(`{}`),
		Config: []byte(`{"action":"block","code":-32050,"payload":"` + strings.Repeat("é", 600) + `"}`)}
	var v abi.Verdict
	if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil {
		t.Fatal(err)
	}
	if v.Action != abi.ActionBlock || v.Code != -32050 || string(v.Payload) != strings.Repeat("é", 512) {
		t.Fatalf("got %s %d with a %d-byte reason", v.Action, v.Code, len(v.Payload))
	}
}

// guest is a module instantiated directly in wazero with recording host
// functions, to feed it what the engine never sends.
type guest struct {
	mod    api.Module
	logs   []string
	events []string
}

func instantiate(t *testing.T, wasm []byte) *guest {
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	t.Cleanup(func() { r.Close(ctx) })
	g := &guest{}
	_, err := r.NewHostModuleBuilder("portcullis").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, level, ptr, n uint32) {
		b, _ := m.Memory().Read(ptr, n)
		g.logs = append(g.logs, fmt.Sprintf("%d %s", level, b))
	}).Export("log").
		NewFunctionBuilder().WithFunc(func(_ context.Context, m api.Module, np, nn, dp, dn uint32) {
		name, _ := m.Memory().Read(np, nn)
		data, _ := m.Memory().Read(dp, dn)
		g.events = append(g.events, string(name)+"="+string(data))
	}).Export("emit").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	if g.mod, err = r.InstantiateModule(ctx, cm, wazero.NewModuleConfig()); err != nil {
		t.Fatal(err)
	}
	return g
}

// call writes msg into a buffer from portcullis_alloc and calls export.
func (g *guest) call(t *testing.T, export string, msg []byte) (verdict []byte) {
	ctx := context.Background()
	res, err := g.mod.ExportedFunction("portcullis_alloc").Call(ctx, uint64(len(msg)+1))
	if err != nil || res[0] == 0 {
		t.Fatalf("portcullis_alloc: %v %v", res, err)
	}
	ptr := uint32(res[0])
	if !g.mod.Memory().Write(ptr, msg) {
		t.Fatal("buffer outside memory")
	}
	res, err = g.mod.ExportedFunction(export).Call(ctx, uint64(ptr), uint64(len(msg)))
	if err != nil {
		t.Fatalf("%s: %v", export, err)
	}
	if res[0] == 0 {
		return nil
	}
	vp, vn := abi.UnpackResult(res[0])
	b, ok := g.mod.Memory().Read(vp, vn)
	if !ok {
		t.Fatalf("verdict %#x outside memory", res[0])
	}
	return bytes.Clone(b)
}

// TestGuest_MalformedInputs feeds the SDK's decoder the golden malformed
// inputs: each must be refused with "no verdict" and a log line, and the
// instance must keep working.
func TestGuest_MalformedInputs(t *testing.T) {
	g := instantiate(t, wasmOf(t, "conformance"))
	good := abi.AppendInput(nil, &abi.Input{Hook: abi.HookRequestGuard, Config: []byte(`{"action":"block","payload":"ok"}`), Frame: []byte(`{}`)})
	for _, vec := range abitest.MustLoad(t).MalformedInputs {
		t.Run(vec.Name, func(t *testing.T) {
			g.logs = nil
			if v := g.call(t, "portcullis_request_guard", abitest.Bytes(vec.Hex)); v != nil {
				t.Fatalf("verdict %x for a malformed input", v)
			}
			if len(g.logs) != 1 || !strings.HasPrefix(g.logs[0], "3 portcullis: bad input message for request_guard: ") {
				t.Fatalf("logs %q", g.logs)
			}
			var v abi.Verdict
			if err := abi.DecodeVerdict(g.call(t, "portcullis_request_guard", good), &v); err != nil || string(v.Payload) != "ok" {
				t.Fatalf("next call: %v %+v", err, v)
			}
		})
	}
	// A message for another hook is refused too.
	g.logs = nil
	if v := g.call(t, "portcullis_route", good); v != nil || len(g.logs) != 1 || !strings.Contains(g.logs[0], "message is for hook request_guard") {
		t.Fatalf("wrong hook: verdict %x, logs %q", v, g.logs)
	}
}

// TestExample_Module checks what the gateway checks at load, and that the
// module asks for nothing but the two host functions it uses.
func TestExample_Module(t *testing.T) {
	wasm := wasmOf(t, "example")
	ctx := context.Background()
	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	cm, err := r.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	var imports []string
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		imports = append(imports, mod+"."+name)
	}
	slices.Sort(imports)
	if !slices.Equal(imports, []string{"portcullis.emit", "portcullis.log"}) {
		t.Fatalf("imports %q", imports)
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok || len(cm.ImportedMemories()) != 0 {
		t.Fatal("memory not defined and exported as `memory`")
	}

	g := instantiate(t, wasm)
	res, err := g.mod.ExportedFunction("portcullis_hooks").Call(ctx)
	if err != nil || uint32(res[0]) != abi.HookRequestGuard.Bit()|abi.HookResponseGuard.Bit() {
		t.Fatalf("hooks mask %b %v", res, err)
	}
	msg := abi.AppendInput(nil, &abi.Input{Hook: abi.HookToolFilter, Frame: []byte(`{}`)})
	if v := g.call(t, "portcullis_tool_filter", msg); v != nil || len(g.logs) != 1 || g.logs[0] != "3 portcullis: no handler registered for hook tool_filter" {
		t.Fatalf("hook without handler: verdict %x, logs %q", v, g.logs)
	}
}

// TestHelpers runs the byte and JSON helper checks of testdata/selftest.ts
// in the real engine.
func TestHelpers(t *testing.T) {
	p, _ := plugintest.Load(t, wasmOf(t, "selftest"), plugin.Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
	in := abi.Input{Hook: abi.HookRequestGuard, Frame: []byte(`{}`)}
	var v abi.Verdict
	if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil {
		t.Fatal(err)
	}
	if v.Action != abi.ActionAllow {
		t.Fatalf("failed checks: %s", v.Payload)
	}
}

// TestRouter checks the route hook end to end: replicas decoded, routeTo
// and block answered, and now() importing the clock, which the gateway
// grants only on request.
func TestRouter(t *testing.T) {
	wasm := wasmOf(t, "router")
	e, err := plugin.NewEngine(plugin.EngineConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	if _, err := e.Load(context.Background(), wasm, plugin.Spec{Name: "router", Version: "1", Hooks: []abi.Hook{abi.HookRoute}}); err == nil || !strings.Contains(err.Error(), "imports portcullis.now, which needs the clock grant") {
		t.Fatalf("loaded without the clock grant: %v", err)
	}
	p, s := plugintest.Load(t, wasm, plugin.Spec{Hooks: []abi.Hook{abi.HookRoute}, Clock: true})
	tests := []struct {
		replicas []abi.Replica
		want     abi.Verdict
	}{
		{[]abi.Replica{{Name: "a", InFlight: 3, Healthy: true}, {Name: "b", InFlight: 1}, {Name: "c", InFlight: 2, Healthy: true}},
			abi.Verdict{Action: abi.ActionRoute, Replica: 2}},
		{[]abi.Replica{{Name: "a", InFlight: 0}}, abi.Verdict{Action: abi.ActionBlock, Payload: []byte("no healthy replica of search")}},
	}
	for _, tt := range tests {
		before := time.Now().UnixNano()
		in := abi.Input{Hook: abi.HookRoute, Server: "search", Frame: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`), Replicas: tt.replicas}
		var v abi.Verdict
		if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil {
			t.Fatal(err)
		}
		if v.Action != tt.want.Action || v.Replica != tt.want.Replica || string(v.Payload) != string(tt.want.Payload) {
			t.Fatalf("verdict %+v, want %+v", v, tt.want)
		}
		ev := s.Take("routed")
		var stamp int64
		if len(ev) == 1 {
			fmt.Sscan(ev[0], &stamp)
		}
		if stamp < before || stamp > time.Now().UnixNano() {
			t.Fatalf("routed events %q, want one stamp after %d", ev, before)
		}
	}
}

// TestExample runs the README's guardrail the way the gateway will: a chain
// with one binding.
func TestExample(t *testing.T) {
	p, s := plugintest.Load(t, wasmOf(t, "example"), plugin.Spec{Name: "example", Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}})
	chain := func(config string) *plugin.Chain {
		c, err := plugin.NewChain([]plugin.Binding{{Name: "no-destruction", Plugin: p, Config: []byte(config),
			Timeout: 5 * time.Second}}) // correctness here, not speed: -race on a busy machine is slow
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	deny := chain(`{"deny": ["rm -rf", "drop table"]}`)
	tests := []struct {
		name    string
		chain   *plugin.Chain
		hook    abi.Hook
		frame   string
		blocked string
		frameTo string
	}{
		{"harmless call", deny, abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls"}}}`, "", ""},
		{"denied phrase", deny, abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"RM -RF /"}}}`,
			"denied phrase in arguments: rm -rf", ""},
		{"second phrase", deny, abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sql","arguments":{"q":"Drop Table users"}}}`,
			"denied phrase in arguments: drop table", ""},
		{"escaped phrase", deny, abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"rm \u002drf /"}}}`,
			"denied phrase in arguments: rm -rf", ""},
		{"escaped key", deny, abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"met\u0068od":"tools/call","params":{"name":"sh","arguments":{"cmd":"rm -rf /"}}}`,
			"denied phrase in arguments: rm -rf", ""},
		{"phrase outside arguments", deny, abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"rm -rf"}}`, "", ""},
		{"phrase in the tool name only", deny, abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"rm -rf","arguments":{}}}`, "", ""},
		{"no config", chain(``), abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"rm -rf /"}}}`, "", ""},
		{"bad config", chain(`{"deny": "rm -rf"}`), abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls"}}}`,
			"guard misconfigured: deny must be a list of phrases", ""},
		{"secret in result", deny, abi.HookResponseGuard,
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"key AKIAABCDEFGHIJKLMNOP"}]}}`, "",
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"key [REDACTED]"}]}}`},
		{"two secrets", deny, abi.HookResponseGuard,
			`{"jsonrpc":"2.0","id":5,"result":"AKIA_AKIA0123456789ABCDEF and AKIA0123456789ABCDEF"}`, "",
			`{"jsonrpc":"2.0","id":5,"result":"AKIA_[REDACTED] and [REDACTED]"}`},
		{"not a key", deny, abi.HookResponseGuard,
			`{"jsonrpc":"2.0","id":6,"result":"AKIA0123456789abcdef AKIA0123456789ABCDE"}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res plugin.Result
			tt.chain.Run(context.Background(), tt.hook, &plugin.Call{Server: "shell", Tool: "sh", Frame: []byte(tt.frame)}, &res)
			if len(res.Outcomes) != 1 || res.Outcomes[0].Err != nil {
				t.Fatalf("outcomes %+v", res.Outcomes)
			}
			if string(res.Reason) != tt.blocked || res.Blocked != (tt.blocked != "") {
				t.Fatalf("blocked=%v reason %q, want %q", res.Blocked, res.Reason, tt.blocked)
			}
			want := tt.frameTo
			if want == "" {
				want = tt.frame
			}
			if !res.Blocked && string(res.Frame) != want {
				t.Fatalf("frame %s\nwant  %s", res.Frame, want)
			}
		})
	}
	if ev := s.Take("redacted"); len(ev) != 2 || ev[0] != "shell" {
		t.Fatalf("redacted events %q", ev)
	}
	if logs := s.Logs(); !slices.Contains(logs, "WARN blocked sh on shell: rm -rf") {
		t.Fatalf("logs %q", logs)
	}
}

// readmeBlock returns the fenced block of lang that follows the first line
// of README.md starting with heading.
func readmeBlock(t *testing.T, heading, lang string) string {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading)
	if ok {
		_, rest, ok = strings.Cut(rest, "\n```"+lang+"\n")
	}
	block, _, closed := strings.Cut(rest, "\n```\n")
	if !ok || !closed {
		t.Fatalf("README.md has no ```%s block under %q", lang, heading)
	}
	return block + "\n"
}

// TestREADME follows README.md: the guard it shows, built with the command
// it shows, passes the Node test it shows, and the YAML it shows binds it in
// a real gateway in front of the built-in demo server.
func TestREADME(t *testing.T) {
	node := compiler(t)
	npx := plugintest.Tool(t, "npx")
	dir := t.TempDir()
	sdk, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}

	// Step 1 without the network: `npm install <folder>` links the SDK, and
	// the compiler is the one `make npm-deps` installed here.
	for link, target := range map[string]string{
		"node_modules/@portcullis/sdk": sdk,
		"node_modules/assemblyscript":  filepath.Join(sdk, "node_modules/assemblyscript"),
		"node_modules/.bin/asc":        filepath.Join(sdk, asc),
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, link)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("package.json", `{"name": "no-destruction", "version": "1.0.0", "private": true}`)

	// Step 2: the guard is the example, importing the SDK by package name.
	guard := readmeBlock(t, "### 2. Write the guard", "ts")
	example, err := os.ReadFile("example/index.ts")
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := strings.Cut(string(example), "\n\n") // the example's header comment
	body = strings.NewReplacer(`from "../index"`, `from "@portcullis/sdk"`, `from "../exports"`, `from "@portcullis/sdk/exports"`).Replace(body)
	if guard != body {
		t.Errorf("README's guard.ts differs from example/index.ts (beyond its header and import paths)")
	}
	write("guard.ts", guard)

	// Step 3: the build command, as written.
	build := strings.Fields(readmeBlock(t, "### 3. Build it", "sh"))
	if len(build) < 2 || build[0] != "npx" {
		t.Fatalf("build command %q", build)
	}
	if err := run(dir, npx, build[1:]...); err != nil {
		t.Fatal(err)
	}

	// Step 4: the Node test.
	write("guard.test.mjs", readmeBlock(t, "### 4. Test it", "js"))
	if err := run(dir, node, "--test", "guard.test.mjs"); err != nil {
		t.Fatal(err)
	}

	// Step 5: the YAML, next to the module, with a server to guard.
	yaml := "servers:\n  - name: demo\n    transport: demo\n" + readmeBlock(t, "### 5. Bind it", "yaml")
	cs, sink := plugintest.Gateway(t, yaml, dir)
	if _, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "please rm -rf / now"}); err == nil ||
		!strings.Contains(err.Error(), "denied phrase in arguments: rm -rf") {
		t.Fatalf("dangerous call: %v", err)
	}
	if got, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "harmless"}); err != nil || got != "harmless" {
		t.Fatalf("harmless call: %q %v", got, err)
	}
	if got, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "the key is AKIAABCDEFGHIJKLMNOP, keep it"}); err != nil ||
		got != "the key is [REDACTED], keep it" {
		t.Fatalf("redaction: %q %v", got, err)
	}
	if ev := sink.Take("redacted"); len(ev) != 1 || ev[0] != "demo" {
		t.Fatalf("redacted events %q", ev)
	}
	if logs := sink.Logs(); !slices.Contains(logs, "WARN blocked echo on demo: rm -rf") {
		t.Fatalf("plugin logs %q", logs)
	}
}

// BenchmarkGuest_Instantiate reports the size of the modules and what a
// new instance costs: "load" is what the gateway does to load a plugin whose
// compiled code is cached (a runtime, the host modules, a pool of one), as
// sdk/go's benchmark does; "instance" is one more instance of a compiled
// module, as when the pool grows or replaces a failed instance.
func BenchmarkGuest_Instantiate(b *testing.B) {
	ctx := context.Background()
	for _, name := range []string{"example", "conformance"} {
		wasm := wasmOf(b, name)
		b.Run(name+"/load", func(b *testing.B) {
			e, err := plugin.NewEngine(plugin.EngineConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(ctx)
			spec := plugin.Spec{Name: name, Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}, Instances: 1}
			for b.Loop() {
				p, err := e.Load(ctx, wasm, spec) // compile is cached after the first
				if err != nil {
					b.Fatal(err)
				}
				p.Close(ctx)
			}
			b.ReportMetric(float64(len(wasm)), "wasm-bytes")
		})
		b.Run(name+"/instance", func(b *testing.B) {
			r := wazero.NewRuntime(ctx)
			defer r.Close(ctx)
			_, err := r.NewHostModuleBuilder("portcullis").
				NewFunctionBuilder().WithFunc(func(uint32, uint32, uint32) {}).Export("log").
				NewFunctionBuilder().WithFunc(func(uint32, uint32, uint32, uint32) {}).Export("emit").
				Instantiate(ctx)
			if err != nil {
				b.Fatal(err)
			}
			cm, err := r.CompileModule(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				m, err := r.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("")) // runs the start function
				if err != nil {
					b.Fatal(err)
				}
				m.Close(ctx)
			}
		})
	}
}

// BenchmarkGuest_Call measures one hook call into the README's guard: the
// same request as sdk/go's benchmark, frames of 1 and 64 KiB that match
// nothing, and a response it redacts.
func BenchmarkGuest_Call(b *testing.B) {
	p, _ := plugintest.Load(b, wasmOf(b, "example"), plugin.Spec{Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}})
	prose := strings.Repeat("The quick brown fox jumps over the lazy dog, then rests. ", 1200)
	deny := []byte(`{"deny":["rm -rf","drop table"]}`)
	cases := []struct {
		name string
		in   abi.Input
		want abi.Action
	}{
		{"request", abi.Input{Hook: abi.HookRequestGuard, Config: []byte(`{"deny":["rm -rf"]}`),
			Frame: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls -la"}}}`)}, abi.ActionAllow},
		{"request_1KiB", abi.Input{Hook: abi.HookRequestGuard, Config: deny, Frame: fill(1024,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"write_file","arguments":{"path":"/tmp/notes.txt","content":"`, prose, `"}}}`)}, abi.ActionAllow},
		{"response_64KiB", abi.Input{Hook: abi.HookResponseGuard, Config: deny, Frame: fill(64<<10,
			`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"`, prose, `"}]}}`)}, abi.ActionAllow},
		{"response_redact", abi.Input{Hook: abi.HookResponseGuard, Config: deny,
			Frame: []byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"key AKIAABCDEFGHIJKLMNOP"}]}}`)}, abi.ActionRewrite},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var v abi.Verdict
			b.ReportAllocs()
			for b.Loop() {
				if err := p.Call(context.Background(), &c.in, time.Second, &v); err != nil {
					b.Fatal(err)
				}
			}
			if v.Action != c.want {
				b.Fatalf("verdict %s, want %s", v.Action, c.want)
			}
		})
	}
}

// fill returns head, filler cut to size, then tail: a frame of exactly size bytes.
func fill(size int, head, filler, tail string) []byte {
	return []byte(head + filler[:size-len(head)-len(tail)] + tail)
}
