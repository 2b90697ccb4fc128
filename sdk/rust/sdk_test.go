package rust_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
)

// guests are the Rust guests, built once per test binary into a temporary directory.
var guests struct {
	once sync.Once
	dir  string
	err  error
}

// toolchain returns Debian's cargo and the environment that makes it use Debian's rustc and
// rustdoc: rustup's, first in PATH on some machines, lack the wasm32-wasi standard library.
// It skips the test (fails it in CI) when they are not installed.
func toolchain(t testing.TB) (string, []string) {
	t.Helper()
	bin := plugintest.Tool(t, "/usr/bin/cargo")
	return bin, []string{"RUSTC=" + plugintest.Tool(t, "/usr/bin/rustc"), "RUSTDOC=" + plugintest.Tool(t, "/usr/bin/rustdoc")}
}

// cargo runs cargo in dir, building into target. Nothing is fetched: the crates depend on the
// SDK by path only.
func cargo(t testing.TB, dir, target string, args ...string) error {
	bin, env := toolchain(t)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "CARGO_TARGET_DIR="+target, "CARGO_NET_OFFLINE=true")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("cargo %s in %s: %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return nil
}

// build compiles ./example and ./conformance to .wasm with the real toolchain and returns the
// path of the named one's module.
func build(t testing.TB, name string) string {
	t.Helper()
	toolchain(t) // skip (or fail in CI) before the once, not inside it
	guests.once.Do(func() {
		guests.dir, guests.err = os.MkdirTemp("", "sdk-rust-guests")
		if guests.err != nil {
			return
		}
		for _, c := range []struct{ name, crate string }{{"example", "no_destruction"}, {"conformance", "conformance"}} {
			target := filepath.Join(guests.dir, "target")
			if guests.err = cargo(t, c.name, target, "build", "--release", "--target", "wasm32-wasi"); guests.err != nil {
				return
			}
			// Copied out: the README test builds a crate of the same name.
			guests.err = os.Rename(filepath.Join(target, "wasm32-wasi", "release", c.crate+".wasm"), filepath.Join(guests.dir, c.name+".wasm"))
			if guests.err != nil {
				return
			}
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

func loadGuest(t testing.TB, name string, spec plugin.Spec) (*plugin.Plugin, *plugintest.Sink) {
	t.Helper()
	wasm, err := os.ReadFile(build(t, name))
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = name
	return plugintest.Load(t, wasm, spec)
}

// TestCrate_UnitTests runs the SDK's and the example's own Rust tests natively (golden vectors,
// malformed messages, JSON edge cases, the example through portcullis::testing).
func TestCrate_UnitTests(t *testing.T) {
	target := t.TempDir()
	for _, dir := range []string{".", "example"} {
		if err := cargo(t, dir, target, "test"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGuest_Conformance(t *testing.T) {
	wasm, err := os.ReadFile(build(t, "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	// The SDK's panic hook logs the message and where the panic happened.
	const call = `panic!("conformance guest asked to panic")`
	line, col := findLine(t, "conformance/src/lib.rs", call)
	plugintest.Conformance(t, wasm, fmt.Sprintf("ERROR portcullis: handler panicked: conformance guest asked to panic (src/lib.rs:%d:%d)", line, col))
}

// findLine returns the 1-based line and column of text in file.
func findLine(t *testing.T, file, text string) (int, int) {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if c := strings.Index(l, text); c >= 0 {
			return i + 1, c + 1
		}
	}
	t.Fatalf("%q not in %s", text, file)
	return 0, 0
}

// TestExample runs the README's guardrail the way the gateway does: a chain with one binding.
func TestExample(t *testing.T) {
	p, s := loadGuest(t, "example", plugin.Spec{Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}})
	chain, err := plugin.NewChain([]plugin.Binding{{
		Name: "no-destruction", Plugin: p, Config: []byte(`{"deny": ["rm -rf", "drop table"]}`),
		Timeout: 5 * time.Second, // correctness here, not speed: -race on a busy machine is slow
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		hook    abi.Hook
		frame   string
		blocked string
		frameTo string
	}{
		{"harmless call", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls"}}}`, "",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls"}}}`},
		{"denied phrase", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"RM -RF /"}}}`,
			"denied phrase in arguments: rm -rf", ""},
		{"escaped phrase", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sql","arguments":{"q":"DROP\u0020table x"}}}`,
			"denied phrase in arguments: drop table", ""},
		{"phrase outside arguments", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"rm -rf"}}`, "",
			`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"rm -rf"}}`},
		{"secret in result", abi.HookResponseGuard,
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"key AKIAABCDEFGHIJKLMNOP, AKIAabcdefghijklmnop"}]}}`, "",
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"key [REDACTED], AKIAabcdefghijklmnop"}]}}`},
		{"no secret", abi.HookResponseGuard, `{"jsonrpc":"2.0","id":5,"result":{"akia":"AKIA"}}`, "",
			`{"jsonrpc":"2.0","id":5,"result":{"akia":"AKIA"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res plugin.Result
			chain.Run(context.Background(), tt.hook, &plugin.Call{Server: "shell", Tool: "sh", Frame: []byte(tt.frame)}, &res)
			if len(res.Outcomes) != 1 || res.Outcomes[0].Err != nil {
				t.Fatalf("outcomes %+v", res.Outcomes)
			}
			if string(res.Reason) != tt.blocked || res.Blocked != (tt.blocked != "") {
				t.Fatalf("blocked=%v reason %q, want %q", res.Blocked, res.Reason, tt.blocked)
			}
			if !res.Blocked && string(res.Frame) != tt.frameTo {
				t.Fatalf("frame %s\nwant  %s", res.Frame, tt.frameTo)
			}
		})
	}
	if ev := s.Take("redacted"); len(ev) != 1 || ev[0] != "shell" {
		t.Fatalf("redacted events %q", ev)
	}
	if !hasLog(s.Logs(), `WARN blocked sh on shell: "rm -rf"`) {
		t.Fatalf("block not logged: %q", s.Logs())
	}
}

func hasLog(logs []string, want string) bool {
	for _, l := range logs {
		if l == want {
			return true
		}
	}
	return false
}

// readme holds the code blocks of README.md, in order, with their info strings.
type block struct{ lang, text string }

func readmeBlocks(t *testing.T) []block {
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var blocks []block
	var cur *block
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```")}
		case cur != nil && l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
	}
	return blocks
}

// pick returns the first block in lang whose text contains marker.
func pick(t *testing.T, blocks []block, lang, marker string) string {
	t.Helper()
	for _, b := range blocks {
		if b.lang == lang && strings.Contains(b.text, marker) {
			return b.text
		}
	}
	t.Fatalf("README.md has no %s block with %q", lang, marker)
	return ""
}

// TestREADME follows the README from an empty directory: its Cargo.toml, its src/lib.rs (the
// guard, then the tests it says to append), its build command and its gateway config, in front
// of the built-in demo server. The guard must block, pass and redact live traffic.
func TestREADME(t *testing.T) {
	toolchain(t)
	blocks := readmeBlocks(t)
	sdk, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	const dep = `portcullis = { path = "../portcullis/sdk/rust" }`
	manifest := pick(t, blocks, "toml", "[package]")
	if !strings.Contains(manifest, dep) {
		t.Fatalf("README's Cargo.toml lacks %s", dep)
	}
	manifest = strings.Replace(manifest, dep, fmt.Sprintf("portcullis = { path = %q }", sdk), 1)
	src := pick(t, blocks, "rust", "portcullis::plugin!") + "\n" + pick(t, blocks, "rust", "#[cfg(test)]")
	// The README's guard is the example the other tests run.
	if example, err := os.ReadFile("example/src/lib.rs"); err != nil || string(example) != src {
		t.Fatalf("example/src/lib.rs is not the README's src/lib.rs (%v)", err)
	}

	crate := filepath.Join(t.TempDir(), "no-destruction")
	if err := os.MkdirAll(filepath.Join(crate, "src"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"Cargo.toml": manifest, "src/lib.rs": src} {
		if err := os.WriteFile(filepath.Join(crate, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	buildCmd := strings.Fields(strings.TrimSpace(pick(t, blocks, "sh", "cargo build")))
	if buildCmd[0] != "cargo" {
		t.Fatalf("README's build command is %q", buildCmd)
	}
	target := filepath.Join(crate, "target")
	for _, args := range [][]string{{"test"}, buildCmd[1:]} {
		if err := cargo(t, crate, target, args...); err != nil {
			t.Fatal(err)
		}
	}
	// "Copy no-destruction.wasm next to the gateway's config file".
	wasm, err := os.ReadFile(filepath.Join(target, "wasm32-wasi", "release", "no_destruction.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(crate, "no-destruction.wasm"), wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	yaml := "servers:\n  - name: demo\n    transport: demo\n" + pick(t, blocks, "yaml", "bindings:")
	cs, sink := plugintest.Gateway(t, yaml, crate)

	if _, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "please RM -rf / now"}); err == nil ||
		!strings.Contains(err.Error(), "denied phrase in arguments: rm -rf") {
		t.Fatalf("dangerous call: %v", err)
	}
	if got, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "harmless"}); err != nil || got != "harmless" {
		t.Fatalf("harmless call: %q %v", got, err)
	}
	got, err := plugintest.CallText(cs, "demo__echo", map[string]any{"message": "the key is AKIAABCDEFGHIJKLMNOP, keep it"})
	if err != nil || got != "the key is [REDACTED], keep it" {
		t.Fatalf("redaction: %q %v", got, err)
	}
	if ev := sink.Take("redacted"); len(ev) == 0 || ev[0] != "demo" {
		t.Fatalf("redacted events %q", ev)
	}
}

// BenchmarkGuest_Instantiate reports the size of the Rust guests and the time to create one
// instance (the pool does this at load and to replace failed instances).
func BenchmarkGuest_Instantiate(b *testing.B) {
	for _, name := range []string{"example", "conformance"} {
		b.Run(name, func(b *testing.B) {
			wasm, err := os.ReadFile(build(b, name))
			if err != nil {
				b.Fatal(err)
			}
			e, err := plugin.NewEngine(plugin.EngineConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close(context.Background())
			spec := plugin.Spec{Name: name, Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}, Instances: 1}
			for b.Loop() {
				p, err := e.Load(context.Background(), wasm, spec) // compile is cached after the first
				if err != nil {
					b.Fatal(err)
				}
				p.Close(context.Background())
			}
			b.ReportMetric(float64(len(wasm)), "wasm-bytes") // after the loop, which resets metrics
		})
	}
}

// BenchmarkGuest_Call measures one hook call into the README's guard: a harmless tools/call
// checked against the deny list.
func BenchmarkGuest_Call(b *testing.B) {
	p, _ := loadGuest(b, "example", plugin.Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
	in := abi.Input{Hook: abi.HookRequestGuard, Config: []byte(`{"deny":["rm -rf"]}`),
		Frame: []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls -la"}}}`)}
	var v abi.Verdict
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
			b.Fatal(err)
		}
	}
	if v.Action != abi.ActionAllow {
		b.Fatalf("verdict %s", v.Action)
	}
}
