package interrupt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// instantiate instruments wasm and instantiates it with stub host imports.
func instantiate(t *testing.T, wasm []byte) api.Module {
	t.Helper()
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	_, err = rt.NewHostModuleBuilder("portcullis").
		NewFunctionBuilder().WithFunc(func(uint32, uint32, uint32) {}).Export("log").
		NewFunctionBuilder().WithFunc(func(uint32, uint32, uint32, uint32) {}).Export("emit").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.InstantiateWithConfig(ctx, out, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatal(err)
	}
	return mod
}

func flag(t *testing.T, mod api.Module) api.MutableGlobal {
	t.Helper()
	g, ok := mod.ExportedGlobal(FlagExport).(api.MutableGlobal)
	if !ok {
		t.Fatalf("no mutable global %q exported", FlagExport)
	}
	return g
}

// stopAfter sets the flag after d and reports how long the call ran.
func stopAfter(t *testing.T, mod api.Module, fn string, d time.Duration, params ...uint64) error {
	t.Helper()
	g := flag(t, mod)
	timer := time.AfterFunc(d, func() { g.Set(1) })
	// Garbage collections while the guest spins: without the yields in the
	// check, stopping the world would wait for the guest forever, and the
	// timer would never run.
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				runtime.GC()
			}
		}
	}()
	defer timer.Stop()
	start := time.Now()
	_, err := mod.ExportedFunction(fn).Call(context.Background(), params...)
	if took := time.Since(start); took > d+2*time.Second {
		t.Fatalf("%s ran %v after the flag was set at %v", fn, took, d)
	}
	return err
}

func TestInstrument_PreservesBehaviour(t *testing.T) {
	mod := instantiate(t, fixture(t, "recurse"))
	res, err := mod.ExportedFunction("fib").Call(context.Background(), 20)
	if err != nil {
		t.Fatal(err)
	}
	if res[0] != 6765 {
		t.Fatalf("fib(20) = %d, want 6765", res[0])
	}
	if v := flag(t, mod).Get(); v != 0 {
		t.Fatalf("flag starts at %d, want 0", v)
	}
}

func TestInstrument_StopsRunaways(t *testing.T) {
	tests := []struct {
		name, fixture, fn string
		params            []uint64
	}{
		{"loop", "startloop", "portcullis.start", nil},
		{"recursion without loops", "recurse", "fib", []uint64{90}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mod := instantiate(t, fixture(t, tt.fixture))
			err := stopAfter(t, mod, tt.fn, 20*time.Millisecond, tt.params...)
			if err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("got %v, want an unreachable trap", err)
			}
		})
	}
}

func TestInstrument_StartSectionBecomesExport(t *testing.T) {
	// startloop's start function never returns: instantiation would hang if
	// the start section survived.
	mod := instantiate(t, fixture(t, "startloop"))
	if mod.ExportedFunction(StartExport) == nil {
		t.Fatalf("no %s export", StartExport)
	}
	m, err := Inspect(mustInstrument(t, fixture(t, "startloop")))
	if err != nil {
		t.Fatal(err)
	}
	if m.HasStart {
		t.Fatal("instrumented module still has a start section")
	}
}

func mustInstrument(t *testing.T, wasm []byte) []byte {
	t.Helper()
	out, err := Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Parts of a minimal module whose only function reads global 0, which it
// does not define: the index the added flag would take.
var (
	wasmHeader = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	typeSec    = []byte{1, 4, 1, 0x60, 0, 0}                            // type () -> ()
	funcSec    = []byte{3, 2, 1, 0}                                     // one function of type 0
	memSec     = []byte{5, 3, 1, 0, 1}                                  // one page
	codeSec    = []byte{10, 7, 1, 5, 0, 0x23, 0, 0x1a, 0x0b}            // global.get 0; drop; end
	badOpSec   = []byte{10, 6, 1, 4, 0, 0x06, 0x1a, 0x0b}               // opcode 0x06 (try)
	reservedEx = append([]byte{7, 24, 1, 20}, FlagExport+"\x00\x00"...) // export of the flag's name
)

func module(parts ...[]byte) []byte {
	var out []byte
	for _, p := range append([][]byte{wasmHeader}, parts...) {
		out = append(out, p...)
	}
	return out
}

var globalZeroModule = module(typeSec, funcSec, memSec, codeSec)

func TestInstrument_Refuses(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"empty", nil, "not a WebAssembly module"},
		{"text", []byte("(module)"), "not a WebAssembly module"},
		{"component", []byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}, "not a core module"},
		{"guest touches the flag", globalZeroModule, "global index 0 out of range"},
		{"reserved export", module(typeSec, funcSec, memSec, reservedEx), "reserved for the host"},
		{"no memory", module(typeSec, funcSec, codeSec), "no memory"},
		{"truncated code", globalZeroModule[:len(globalZeroModule)-2], "unexpected end"},
		{"unknown opcode", module(typeSec, funcSec, memSec, badOpSec), "unsupported opcode 0x6"},
		{"sections out of order", module(funcSec, typeSec), "out of order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Instrument(tt.wasm)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Instrument error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
	if _, err := Instrument(nil); !errors.Is(err, ErrNotWasm) {
		t.Fatalf("Instrument(nil) = %v, want ErrNotWasm", err)
	}
}

func TestInspect(t *testing.T) {
	tests := []struct {
		fixture  string
		imports  []string
		memories []Memory
		exports  int
	}{
		{"script", []string{"portcullis.log", "portcullis.emit"}, []Memory{{Min: 2}}, 8},
		{"bigmax", nil, []Memory{{Min: 1, Max: 1000, HasMax: true}}, 4},
		{"memimport", []string{"env.memory"}, nil, 4},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			m, err := Inspect(fixture(t, tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			var imports []string
			for _, im := range m.Imports {
				imports = append(imports, im.Module+"."+im.Name)
			}
			if strings.Join(imports, ",") != strings.Join(tt.imports, ",") {
				t.Errorf("imports %v, want %v", imports, tt.imports)
			}
			if len(m.Memories) != len(tt.memories) || (len(m.Memories) > 0 && m.Memories[0] != tt.memories[0]) {
				t.Errorf("memories %+v, want %+v", m.Memories, tt.memories)
			}
			if len(m.Exports) != tt.exports {
				t.Errorf("%d exports, want %d", len(m.Exports), tt.exports)
			}
		})
	}
}

// FuzzInstrument checks that Instrument never panics and that whatever
// wazero accepts before instrumentation it also accepts after.
func FuzzInstrument(f *testing.F) {
	for _, name := range []string{"script", "loopy", "recurse", "startloop", "clock"} {
		f.Add(fixture(f, name))
	}
	f.Add(globalZeroModule)
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(wazero.NewCompilationCache()))
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if err != nil {
			return
		}
		if compile(ctx, rt, wasm) != nil {
			return
		}
		if err := compile(ctx, rt, out); err != nil {
			t.Fatalf("original compiles, instrumented does not: %v", err)
		}
	})
}

// compile reports whether wazero compiles wasm, turning a panic into an
// error: wazero v1.12.0's validator panics on some malformed modules.
func compile(ctx context.Context, rt wazero.Runtime, wasm []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("wazero panicked: %v", r)
		}
	}()
	m, err := rt.CompileModule(ctx, wasm)
	if err == nil {
		m.Close(ctx)
	}
	return err
}
