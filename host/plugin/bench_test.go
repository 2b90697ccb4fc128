package plugin

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/portcullis-mcp/portcullis/abi"
)

// benchFrame is a typical tools/call request.
var benchFrame = []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"create_issue","arguments":{"repo":"acme/api","title":"Crash on start","body":"Steps: run it."}}}`)

// BenchmarkPlugin_Call is the host-side cost of one hook call with a guest
// that does nothing: pool, deadline, encoding, verdict checks and copy.
func BenchmarkPlugin_Call(b *testing.B) {
	e, _ := newEngine(b)
	p := load(b, e, "allow", Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
	in := &abi.Input{Hook: abi.HookRequestGuard, Direction: abi.DirectionRequest, Server: "github",
		Tool: "create_issue", Agent: "ci-bot", Team: "platform", Config: []byte(`{"deny":["rm"]}`), Frame: benchFrame}
	var v abi.Verdict
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Call(ctx, in, 0, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWazero_Call is the floor under BenchmarkPlugin_Call: the same
// trivial guest called straight through wazero, nothing else.
func BenchmarkWazero_Call(b *testing.B) {
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, fixture(b, "allow"))
	if err != nil {
		b.Fatal(err)
	}
	f := mod.ExportedFunction(abi.HookRequestGuard.Export())
	stack := make([]uint64, 2)
	b.ReportAllocs()
	for b.Loop() {
		stack[0], stack[1] = 65536, 0
		if err := f.CallWithStack(ctx, stack); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCPULimit compares ways of stopping runaway guests on loop-heavy
// guards (16 passes over a 4 KiB frame): none, the interrupt check this
// package uses, and wazero's WithCloseOnContextDone.
func BenchmarkCPULimit(b *testing.B) {
	frame := bytes.Repeat([]byte("x"), 4096)
	limits := []struct {
		name  string
		limit cpuLimit
	}{{"unguarded", limitNone}, {"interrupt", limitInterrupt}, {"close-on-done", limitCloseOnDone}}
	guards := []struct {
		name string
		hook abi.Hook
	}{{"tight-loop", abi.HookRequestGuard}, {"call-per-byte", abi.HookResponseGuard}}
	for _, g := range guards {
		for _, l := range limits {
			b.Run(g.name+"/"+l.name, func(b *testing.B) {
				e, _ := newEngine(b)
				e.limit = l.limit
				p := load(b, e, "loopy", Spec{Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}})
				in := &abi.Input{Hook: g.hook, Frame: frame}
				var v abi.Verdict
				for b.Loop() {
					if err := p.Call(context.Background(), in, 0, &v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkChain_Run measures a request guard chain per call: no binding
// matching, and three guards bound.
func BenchmarkChain_Run(b *testing.B) {
	e, _ := newEngine(b)
	p := load(b, e, "allow", Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
	for _, n := range []int{0, 1, 3} {
		b.Run(fmt.Sprintf("guards=%d", n), func(b *testing.B) {
			var bindings []Binding
			for i := 0; i < n; i++ {
				bindings = append(bindings, Binding{Name: fmt.Sprint("g", i), Plugin: p, Servers: []string{"git*"}, Config: []byte(`{}`)})
			}
			bindings = append(bindings, Binding{Name: "elsewhere", Plugin: p, Servers: []string{"slack"}})
			c, err := NewChain(bindings)
			if err != nil {
				b.Fatal(err)
			}
			call := &Call{Server: "github", Tool: "create_issue", Agent: "ci-bot", Frame: benchFrame}
			var res Result
			b.ReportAllocs()
			for b.Loop() {
				c.Run(context.Background(), abi.HookRequestGuard, call, &res)
			}
		})
	}
}

// BenchmarkInstantiate measures creating one instance of small modules
// (Go guests are measured in sdk/go).
func BenchmarkInstantiate(b *testing.B) {
	for _, name := range []string{"allow", "script", "loopy"} {
		b.Run(name, func(b *testing.B) {
			e, _ := newEngine(b)
			p := load(b, e, name, Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
			b.ReportMetric(float64(len(fixture(b, name))), "wasm-bytes")
			for b.Loop() {
				inst, err := p.pool.create(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				inst.close()
			}
		})
	}
}

// exampleGuest is sdk/go's example guard.
var exampleGuest = &goGuest{dir: ".", pkg: "../../sdk/go/example"}

// BenchmarkGoGuest measures a standard Go guest (sdk/go/example): creating
// an instance, and a request guard call (JSON decoding of the frame)
// unguarded and with the interrupt check.
func BenchmarkGoGuest(b *testing.B) {
	wasm := exampleGuest.build(b)
	in := &abi.Input{Hook: abi.HookRequestGuard, Config: []byte(`{"deny":["rm -rf"]}`), Frame: benchFrame}
	for _, l := range []struct {
		name  string
		limit cpuLimit
	}{{"unguarded", limitNone}, {"interrupt", limitInterrupt}} {
		e, _ := newEngine(b)
		e.limit = l.limit
		p, err := e.Load(context.Background(), wasm, Spec{Name: "go", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("instantiate/"+l.name, func(b *testing.B) {
			b.ReportMetric(float64(len(wasm)), "wasm-bytes")
			for b.Loop() {
				inst, err := p.pool.create(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				inst.close()
			}
		})
		b.Run("call/"+l.name, func(b *testing.B) {
			var v abi.Verdict
			for b.Loop() {
				if err := p.Call(context.Background(), in, time.Second, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
		p.Close(context.Background())
	}
}
