package promptinjection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/plugins"
)

// sized is a tools/call result of exactly n bytes whose text repeats para.
func sized(tb testing.TB, n int, para string) []byte {
	text := strings.Repeat(para, n/len(para)+1)
	for cut := len(text); cut > 0; cut-- {
		if f := result(text[:cut]); len(f) <= n {
			if len(f) != n {
				f = result(text[:cut] + strings.Repeat(".", n-len(f)))
			}
			if len(f) != n {
				tb.Fatalf("frame is %d bytes", len(f))
			}
			return f
		}
	}
	tb.Fatal("no frame")
	return nil
}

// Ordinary tool output: a build log and prose with numbers, paths, ids and hashes.
const logText = "2024-01-15T10:30:00Z build api v1.22.3 (commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904) passed 214 tests in 38.2s on runner 7; " +
	"artifact s3://builds/api/550e8400-e29b-41d4-a716-446655440000.tar.gz (12.4 MiB). Coverage rose to 81.3% across 46 packages. "

// Documentation whose words wake some rules' patterns ("never mention", "system prompt",
// "send the") without reaching the threshold: the slow path, every pattern run.
const docsText = "Setup: follow the installation instructions, then restart the service. Never mention this flag in public docs. " +
	"The system prompt of the assistant is set in Settings; send the logs to the team channel before you log out. "

func BenchmarkPromptInjection(b *testing.B) {
	p, _ := load(b)
	var tools []any
	for i := range 20 {
		tools = append(tools, map[string]any{"name": fmt.Sprintf("tool_%d", i), "description": "Reads a file of the workspace and returns its text, at most 1 MiB.",
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"path": map[string]any{"type": "string", "description": "Relative path"}}}})
	}
	list, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 0, "result": map[string]any{"tools": tools}})
	for _, bc := range []struct {
		name  string
		hook  abi.Hook
		frame []byte
	}{
		{"1KiB-nomatch", abi.HookResponseGuard, sized(b, 1024, logText)},
		{"1KiB-nomatch-patterns", abi.HookResponseGuard, sized(b, 1024, docsText)},
		{"64KiB-result", abi.HookResponseGuard, sized(b, 64<<10, logText)},
		{"64KiB-result-patterns", abi.HookResponseGuard, sized(b, 64<<10, docsText)},
		{fmt.Sprintf("tools-list-20-%dB", len(list)), abi.HookToolFilter, list},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := abi.Input{Hook: bc.hook, Direction: bc.hook.Direction(), Frame: bc.frame}
			var v abi.Verdict
			if err := p.Call(context.Background(), &in, time.Second, &v); err != nil || v.Action != abi.ActionAllow {
				b.Fatalf("%v %v %s", err, v.Action, v.Payload)
			}
			b.SetBytes(int64(len(bc.frame)))
			b.ReportAllocs()
			c0 := cpuTime()
			defer reportCPU(b, c0)
			for b.Loop() {
				if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPromptInjection_Instantiate reports the module size and the time to create an
// instance (the pool does it at load and to replace a failed one; compiling is cached).
func BenchmarkPromptInjection_Instantiate(b *testing.B) {
	bi, _ := plugins.Lookup("prompt-injection")
	e, err := plugin.NewEngine(plugin.EngineConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())
	spec := plugin.Spec{Name: "prompt-injection", Version: bi.Manifest.Version, Hooks: []abi.Hook{abi.HookResponseGuard, abi.HookToolFilter}, Instances: 1}
	b.ReportMetric(float64(len(bi.Wasm)), "wasm-bytes")
	for b.Loop() {
		p, err := e.Load(context.Background(), bi.Wasm, spec)
		if err != nil {
			b.Fatal(err)
		}
		p.Close(context.Background())
	}
}

// BenchmarkPromptInjection_Config measures a call whose config differs from the last one's, so that the
// instance parses and compiles it again (a binding's first call, or bindings with different
// configs taking turns on one instance, more of them than it keeps compiled).
func BenchmarkPromptInjection_Config(b *testing.B) {
	p, _ := load(b)
	var configs [][]byte
	for i := range 9 { // more than an instance keeps
		configs = append(configs, []byte(`{"threshold":1`+strings.Repeat(" ", i)+"}"))
	}
	in := abi.Input{Hook: abi.HookResponseGuard, Direction: abi.HookResponseGuard.Direction(), Frame: sized(b, 1024, logText)}
	var v abi.Verdict
	c0 := cpuTime()
	defer reportCPU(b, c0)
	n := 0
	for b.Loop() {
		in.Config = configs[n%len(configs)]
		n++
		if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
			b.Fatal(err)
		}
	}
}
