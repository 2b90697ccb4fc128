//go:build !wasip1

package portcullis_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/plugin/plugintest"
)

// guests are the Go guests built once per test binary: Go modules are
// megabytes, so they are built here, never committed.
var guests struct {
	once sync.Once
	dir  string
	err  error
}

// build compiles ./example and ./internal/conformance to .wasm with the
// real toolchain and returns the path of pkg's module.
func build(t testing.TB, pkg string) string {
	t.Helper()
	guests.once.Do(func() {
		guests.dir, guests.err = os.MkdirTemp("", "sdk-go-guests")
		if guests.err != nil {
			return
		}
		for _, p := range []string{"example", "conformance"} {
			src := "./" + p
			if p == "conformance" {
				src = "./internal/conformance"
			}
			cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(guests.dir, p+".wasm"), src)
			cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
			if out, err := cmd.CombinedOutput(); err != nil {
				guests.err = errors.New("go build " + src + ": " + err.Error() + "\n" + string(out))
				return
			}
		}
	})
	if guests.err != nil {
		t.Fatal(guests.err)
	}
	return filepath.Join(guests.dir, pkg+".wasm")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if guests.dir != "" {
		os.RemoveAll(guests.dir)
	}
	os.Exit(code)
}

// loadGuest loads a built guest into a fresh engine.
func loadGuest(t testing.TB, name string, spec plugin.Spec) (*plugin.Plugin, *plugintest.Sink) {
	t.Helper()
	wasm, err := os.ReadFile(build(t, name))
	if err != nil {
		t.Fatal(err)
	}
	spec.Name = name
	return plugintest.Load(t, wasm, spec)
}

func TestGuest_Conformance(t *testing.T) {
	wasm, err := os.ReadFile(build(t, "conformance"))
	if err != nil {
		t.Fatal(err)
	}
	plugintest.Conformance(t, wasm, "ERROR portcullis: request_guard handler panicked: conformance guest asked to panic")
}

// TestExample runs the README's guardrail the way the gateway will: a chain
// with one binding.
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
		{"phrase outside arguments", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"rm -rf"}}`, "",
			`{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"rm -rf"}}`},
		{"secret in result", abi.HookResponseGuard,
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"key AKIAABCDEFGHIJKLMNOP"}]}}`, "",
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"key [REDACTED]"}]}}`},
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
}

// BenchmarkGuest_Instantiate reports the size of the Go guests and the
// time to create one instance (the pool does this at load and to replace
// failed instances).
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

// BenchmarkGuest_Call measures a hook call into the README's Go guard.
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
}
