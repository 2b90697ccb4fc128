// Package plugin is the gateway's WebAssembly plugin engine: it loads
// plugin versions (native ABI, abi/ABI.md, or Extism PDK builds), runs
// their hooks under a deadline and a memory limit, and runs the bindings
// of a pipeline snapshot in order (Chain).
//
// # Use
//
//	e, _ := plugin.NewEngine(plugin.EngineConfig{CacheDir: dir, Logger: log, Events: sink})
//	p, err := e.Load(ctx, wasm, plugin.Spec{Name: "pii", Version: "1.2.0",
//		Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}})
//	chain, err := plugin.NewChain([]plugin.Binding{{Name: "pii", Plugin: p, Config: cfg}})
//	...
//	var res plugin.Result // one per request, pooled with it
//	chain.Run(ctx, abi.HookRequestGuard, &plugin.Call{Server: s, Tool: t, Frame: f}, &res)
//	if res.Blocked { /* JSON-RPC error res.Code, res.Reason */ } else { /* forward res.Frame */ }
//
// Per plugin version: one wazero runtime (memory limit per runtime), the
// shared on-disk compilation cache, a bounded channel-based pool of
// instances, a circuit breaker. An instance that times out or traps is
// closed and replaced in the background; the caller gets an error (the
// package's Err values) to which Chain applies the binding's failure
// policy. Guests see no files, network, environment or real clock unless
// granted (Spec.Clock).
//
// # Stopping runaway guests
//
// Native modules are rewritten at load (package internal/interrupt): a
// check at every loop head and function entry decrements a counter and,
// every 1024 checks, yields to Go (memory.grow 0, which wazero implements
// in Go) and tests an interrupt flag. Each instance owns a timer, re-armed
// per call, that sets the flag at the deadline. The yield matters: wazero's
// compiled code cannot be preempted, so without it a spinning guest stalls
// the garbage collector's stop-the-world, and the timer with it (a
// deadlock this package's tests reproduce). wazero's WithCloseOnContextDone
// avoids that by returning to Go at every loop head, which is what makes it
// slow. Extism plugins use WithCloseOnContextDone (the Extism SDK
// instantiates modules itself): they are the compatibility path.
//
// Measured on the project's 2-core machine (go1.26, wazero v1.12.0):
//
//	go test ./host/plugin -run '^$' -bench . -benchmem
//
//	BenchmarkPlugin_Call (trivial guest, 160-byte frame)   330 ns/op   0 allocs
//	BenchmarkWazero_Call (same guest, bare wazero call)     17 ns/op   0 allocs
//	  => host-side cost of a hook call: about 310 ns, no allocations
//	BenchmarkChain_Run guards=0 (no binding matches)         9 ns/op   0 allocs
//	BenchmarkChain_Run guards=1                            460 ns/op   0 allocs
//	BenchmarkChain_Run guards=3                           1420 ns/op   0 allocs
//
//	BenchmarkCPULimit (16 passes over a 4 KiB frame)    unguarded  interrupt  close-on-done
//	  tight-loop                                           83 µs     86 µs     2168 µs
//	  call-per-byte                                       177 µs    216 µs     2304 µs
//	  => the interrupt check costs 1.04x and 1.22x; close-on-context-done 26x and 13x
//	BenchmarkGoGuest/call (sdk/go example, JSON decode)    28.5 µs   33.2 µs  (1.16x)
//
//	Module sizes and instantiate times (one instance):
//	  WAT fixtures (testdata, 235-748 bytes)             50-85 µs
//	  Go guest, sdk/go/example (3.9 MB)                   5.0 ms
//	  Load of that Go guest with a warm compilation cache: about 110-140 ms
//	  (decoding and instrumenting the module), so load plugins off the hot path.
//
// Test fixtures are WAT sources with their compiled .wasm checked in;
// regenerate them with wabt's wat2wasm:
//
//go:generate sh testdata/wat2wasm.sh
package plugin
