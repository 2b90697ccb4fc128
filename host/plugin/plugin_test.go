package plugin

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/abi/abitest"
)

func TestEngine_Load_Refuses(t *testing.T) {
	e, _ := newEngine(t)
	read := func(name string) []byte { return fixture(t, name) }
	panicky, err := os.ReadFile("testdata/wazero-panic.wasm")
	if err != nil {
		t.Fatal(err)
	}
	request := []abi.Hook{abi.HookRequestGuard}
	tests := []struct {
		name string
		wasm []byte
		spec Spec
		want string
	}{
		{"not wasm", []byte("hello, world"), Spec{}, "not a WebAssembly module"},
		{"empty", nil, Spec{}, "not a WebAssembly module"},
		{"no version marker", read("noversion"), Spec{}, "exports no portcullis_abi_v1"},
		{"other ABI version", read("abi2"), Spec{}, "ABI version 2"},
		{"missing hook export", read("requestonly"), Spec{Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}},
			"missing export portcullis_response_guard for declared hook response_guard"},
		{"wrong hook signature", read("badsig"), Spec{}, "export portcullis_request_guard has type (i32) -> (i32)"},
		{"import not granted", read("badimport"), Spec{}, "imports env.open_socket, which the host does not provide"},
		{"imported memory", read("memimport"), Spec{}, "imports memory env.memory"},
		{"initial memory over limit", read("bigmem"), Spec{MemoryLimitPages: 256}, "300 pages of initial memory, above the limit of 256"},
		{"maximum memory over limit", read("bigmax"), Spec{MemoryLimitPages: 256}, "maximum of 1000 memory pages"},
		{"clock without grant", read("clock"), Spec{}, "imports portcullis.now, which needs the clock grant"},
		{"start never returns", read("startloop"), Spec{InitTimeout: 50 * time.Millisecond}, "portcullis.start: deadline exceeded"},
		{"hooks mask", read("hooksmask"), Spec{Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}},
			"portcullis_hooks reports declared hooks response_guard as not implemented"},
		{"malformed module that panics wazero", panicky, Spec{}, "compiler failed on malformed module"},
		{"no hooks", read("allow"), Spec{Hooks: []abi.Hook{}}, "declares no hooks"},
		{"hook twice", read("allow"), Spec{Hooks: []abi.Hook{1, 1}}, "declares request_guard twice"},
		{"no name", read("allow"), Spec{Name: "x"}, "needs a name and a version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			if spec.Name == "" {
				spec.Name, spec.Version = "t", "1"
			}
			if spec.Hooks == nil {
				spec.Hooks = request
			}
			p, err := e.Load(context.Background(), tt.wasm, spec)
			if err == nil {
				p.Close(context.Background())
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load error = %v\nwant ErrRefused containing %q", err, tt.want)
			}
		})
	}
}

func TestEngine_Load(t *testing.T) {
	dir := t.TempDir()
	e, err := NewEngine(EngineConfig{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	p := load(t, e, "script", Spec{})
	if p.ID() != "script@1.0.0" || p.Format() != FormatNative || !p.Implements(abi.HookAudit) {
		t.Fatalf("ID %q, format %s", p.ID(), p.Format())
	}
	if entries, _ := os.ReadDir(dir); len(entries) == 0 {
		t.Fatal("compilation cache directory is empty after a load")
	}
	if s := p.Spec(); s.Timeout != DefaultTimeout || s.MemoryLimitPages != DefaultMemoryLimitPages || s.Instances < 2 {
		t.Fatalf("defaults not applied: %+v", s)
	}
}

func TestPlugin_Call_GoldenVerdicts(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{})
	vecs := abitest.MustLoad(t)
	for _, vec := range vecs.Verdicts {
		t.Run(vec.Name, func(t *testing.T) {
			want, err := vec.ABI()
			if err != nil {
				t.Fatal(err)
			}
			hook := abi.HookResponseGuard
			if want.Action == abi.ActionRoute {
				hook = abi.HookRoute
			}
			in := input(hook, []byte(`"`+vec.Hex+`"`))
			in.Frame = []byte(`{"jsonrpc":"2.0","id":"a-1","result":{}}`)
			var got abi.Verdict
			if err := p.Call(context.Background(), in, 0, &got); err != nil {
				t.Fatal(err)
			}
			if got.Action != want.Action || got.Code != want.Code || got.Replica != want.Replica ||
				string(got.Payload) != string(want.Payload) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestPlugin_Call_Failures(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{Breaker: BreakerConfig{Failures: 1000}})
	vecs := abitest.MustLoad(t)
	rewrite := func(frame string) []byte {
		return script(abi.Verdict{Action: abi.ActionRewrite, Payload: []byte(frame)})
	}
	type tc struct {
		name    string
		hook    abi.Hook
		config  []byte
		want    error
		replace bool
	}
	tests := []tc{
		{"trap", abi.HookRequestGuard, mode("T"), ErrTrap, true},
		{"null verdict", abi.HookRequestGuard, mode("N"), ErrGuestFailed, false},
		{"verdict out of bounds", abi.HookRequestGuard, mode("O"), ErrMalformedVerdict, false},
		{"rewrite from route", abi.HookRoute, rewrite(string(testFrame)), ErrMalformedVerdict, false},
		{"block from audit", abi.HookAudit, script(abi.Verdict{Action: abi.ActionBlock}), ErrMalformedVerdict, false},
		{"route past replicas", abi.HookRoute, script(abi.Verdict{Action: abi.ActionRoute, Replica: 3}), ErrMalformedVerdict, false},
		{"rewrite not JSON", abi.HookRequestGuard, rewrite(`{"jsonrpc":"2.0",`), ErrInvalidRewrite, false},
		{"rewrite array", abi.HookRequestGuard, rewrite(`[{"jsonrpc":"2.0","id":"a-1"}]`), ErrInvalidRewrite, false},
		{"rewrite without version", abi.HookRequestGuard, rewrite(`{"id":"a-1","method":"x"}`), ErrInvalidRewrite, false},
		{"rewrite version 1.0", abi.HookRequestGuard, rewrite(`{"jsonrpc":"1.0","id":"a-1"}`), ErrInvalidRewrite, false},
		{"rewrite changes id", abi.HookRequestGuard, rewrite(`{"jsonrpc":"2.0","id":"b-2","method":"x"}`), ErrInvalidRewrite, false},
		{"rewrite drops id", abi.HookRequestGuard, rewrite(`{"jsonrpc":"2.0","method":"x"}`), ErrInvalidRewrite, false},
		{"rewrite duplicates id", abi.HookRequestGuard, rewrite(`{"jsonrpc":"2.0","id":"a-1","id":"b"}`), ErrInvalidRewrite, false},
	}
	for _, m := range vecs.MalformedVerdicts {
		tests = append(tests, tc{"golden " + m.Name, abi.HookRequestGuard, []byte(`"` + m.Hex + `"`), ErrMalformedVerdict, false})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := p.Stats().Replaced
			var v abi.Verdict
			err := p.Call(context.Background(), input(tt.hook, tt.config), 0, &v)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Call error = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "plugin script@1.0.0: "+tt.hook.String()+": ") {
				t.Errorf("error %q does not name the plugin and hook", err)
			}
			if replaced := p.Stats().Replaced - before; replaced != map[bool]uint64{true: 1}[tt.replace] {
				t.Errorf("%d instances replaced, want replace=%v", replaced, tt.replace)
			}
			if err := p.Call(context.Background(), input(tt.hook, allowCfg), 0, &v); err != nil {
				t.Fatalf("next call failed: %v", err)
			}
		})
	}
}

func TestPlugin_Call_Runaway(t *testing.T) {
	e, _ := newEngine(t)
	spinner := load(t, e, "script", Spec{Name: "spinner", Version: "1", MemoryLimitPages: 64})
	other := load(t, e, "allow", Spec{Name: "other", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}})

	var wg sync.WaitGroup
	var otherErr error
	stop := make(chan struct{})
	var slowest time.Duration
	wg.Add(1)
	go func() { // unrelated traffic while the runaway spins
		defer wg.Done()
		var v abi.Verdict
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			if err := other.Call(context.Background(), input(abi.HookRequestGuard, nil), 0, &v); err != nil {
				otherErr = err
				return
			}
			slowest = max(slowest, time.Since(start))
		}
	}()
	tests := []struct {
		name    string
		config  []byte
		timeout time.Duration
		want    error
	}{
		{"infinite loop", mode("S"), 50 * time.Millisecond, ErrTimeout},
		{"unbounded memory growth", mode("G"), time.Second, ErrTrap},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			var v abi.Verdict
			err := spinner.Call(context.Background(), input(abi.HookRequestGuard, tt.config), tt.timeout, &v)
			took := time.Since(start)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Call error = %v, want %v", err, tt.want)
			}
			if took > tt.timeout+time.Second {
				t.Fatalf("runaway stopped after %v, deadline was %v", took, tt.timeout)
			}
			if err := spinner.Call(context.Background(), input(abi.HookRequestGuard, allowCfg), 0, &v); err != nil {
				t.Fatalf("call after the runaway failed: %v", err)
			}
		})
	}
	close(stop)
	wg.Wait()
	if otherErr != nil {
		t.Fatalf("unrelated plugin failed during the runaway: %v", otherErr)
	}
	s := spinner.Stats()
	if s.Timeouts != 1 || s.Traps != 1 || s.Replaced != 2 {
		t.Fatalf("stats %+v, want 1 timeout, 1 trap, 2 replaced", s)
	}
	t.Logf("slowest unrelated call during runaways: %v", slowest)
}

func TestPlugin_Call_ContextDeadline(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	var v abi.Verdict
	if err := p.Call(ctx, input(abi.HookRequestGuard, mode("S")), 0, &v); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Call error = %v, want ErrTimeout", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("context deadline ignored: call took %v", took)
	}
}

func TestPlugin_Call_Breaker(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{Breaker: BreakerConfig{Failures: 3, Backoff: 100 * time.Millisecond}})
	other := load(t, e, "allow", Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
	var v abi.Verdict
	for i := 0; i < 3; i++ {
		if err := p.Call(context.Background(), input(abi.HookRequestGuard, mode("T")), 0, &v); !errors.Is(err, ErrTrap) {
			t.Fatalf("call %d: %v, want ErrTrap", i, err)
		}
	}
	calls := p.Stats().Calls
	err := p.Call(context.Background(), input(abi.HookRequestGuard, allowCfg), 0, &v)
	if !errors.Is(err, ErrBreakerOpen) || !p.Stats().BreakerOpen {
		t.Fatalf("call with the breaker open: %v, want ErrBreakerOpen", err)
	}
	if p.Stats().Calls != calls {
		t.Fatal("the guest ran although the breaker was open")
	}
	if err := other.Call(context.Background(), input(abi.HookRequestGuard, nil), 0, &v); err != nil {
		t.Fatalf("another plugin is affected by the breaker: %v", err)
	}
	// A failed probe doubles the backoff.
	time.Sleep(110 * time.Millisecond)
	if err := p.Call(context.Background(), input(abi.HookRequestGuard, mode("T")), 0, &v); !errors.Is(err, ErrTrap) {
		t.Fatalf("probe: %v, want ErrTrap", err)
	}
	time.Sleep(110 * time.Millisecond)
	if err := p.Call(context.Background(), input(abi.HookRequestGuard, allowCfg), 0, &v); !errors.Is(err, ErrBreakerOpen) {
		t.Fatalf("after a failed probe and one backoff: %v, want ErrBreakerOpen", err)
	}
	time.Sleep(110 * time.Millisecond)
	if err := p.Call(context.Background(), input(abi.HookRequestGuard, allowCfg), 0, &v); err != nil {
		t.Fatalf("probe after the doubled backoff: %v", err)
	}
	if p.Stats().BreakerOpen {
		t.Fatal("breaker still open after a successful probe")
	}
}

func TestPlugin_Call_HostFunctions(t *testing.T) {
	e, rec := newEngine(t)
	p := load(t, e, "script", Spec{})
	var v abi.Verdict
	for _, m := range []string{"L", "F", "E"} {
		if err := p.Call(context.Background(), input(abi.HookRequestGuard, mode(m)), 0, &v); err != nil {
			t.Fatalf("mode %s: %v", m, err)
		}
	}
	lines, events := rec.snapshot()
	if len(lines) != 1+maxLogLines {
		t.Fatalf("got %d log lines, want 1 + %d (the flood capped)", len(lines), maxLogLines)
	}
	if lines[0] != "hello from guest plugin=script@1.0.0" || rec.levels[0].String() != "INFO" || rec.levels[1].String() != "WARN" {
		t.Fatalf("first line %q level %v", lines[0], rec.levels[0])
	}
	if len(events) != 1 || events[0] != "script@1.0.0 counter=hello from guest" {
		t.Fatalf("events %q", events)
	}
}

func TestPlugin_Call_Clock(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "clock", Spec{Clock: true, Hooks: []abi.Hook{abi.HookRequestGuard}})
	var v abi.Verdict
	if err := p.Call(context.Background(), input(abi.HookRequestGuard, nil), 0, &v); err != nil {
		t.Fatal(err)
	}
	if v.Action != abi.ActionAllow {
		t.Fatalf("granted clock reads before 2001: verdict %s", v.Action)
	}
}

func TestPlugin_Call_NotDeclared(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "allow", Spec{Hooks: []abi.Hook{abi.HookRequestGuard}})
	var v abi.Verdict
	if err := p.Call(context.Background(), input(abi.HookResponseGuard, nil), 0, &v); !errors.Is(err, ErrHookNotDeclared) {
		t.Fatalf("got %v, want ErrHookNotDeclared", err)
	}
}

func TestPlugin_Call_Pool(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{Instances: 1})
	done := make(chan error)
	go func() {
		var v abi.Verdict
		done <- p.Call(context.Background(), input(abi.HookRequestGuard, mode("S")), 300*time.Millisecond, &v)
	}()
	time.Sleep(50 * time.Millisecond) // let the spinner take the only instance
	var v abi.Verdict
	if err := p.Call(context.Background(), input(abi.HookRequestGuard, allowCfg), 20*time.Millisecond, &v); !errors.Is(err, ErrBusy) {
		t.Fatalf("second call: %v, want ErrBusy", err)
	}
	if err := <-done; !errors.Is(err, ErrTimeout) {
		t.Fatalf("spinner: %v, want ErrTimeout", err)
	}

	q := load(t, e, "script", Spec{Name: "wide", Version: "1", Instances: 3})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v abi.Verdict
			for j := 0; j < 50; j++ {
				if err := q.Call(context.Background(), input(abi.HookRequestGuard, allowCfg), time.Second, &v); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := q.Stats().Instances; n < 1 || n > 3 {
		t.Fatalf("%d live instances, bound is 3", n)
	}
}

func TestPlugin_Close(t *testing.T) {
	e, _ := newEngine(t)
	p, err := e.Load(context.Background(), fixture(t, "allow"), Spec{Name: "a", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var v abi.Verdict
	if err := p.Call(context.Background(), input(abi.HookRequestGuard, nil), 0, &v); !errors.Is(err, ErrClosed) {
		t.Fatalf("call after Close: %v, want ErrClosed", err)
	}
	if p.Stats().Instances != 0 {
		t.Fatalf("%d instances live after Close", p.Stats().Instances)
	}
}

func TestCheckRewrite(t *testing.T) {
	tests := []struct {
		name, orig, frame string
		ok                bool
	}{
		{"same id number", `{"jsonrpc":"2.0","id":7,"method":"a"}`, `{"id":7,"jsonrpc":"2.0","method":"b"}`, true},
		{"notification", `{"jsonrpc":"2.0","method":"n"}`, `{ "jsonrpc" : "2.0" , "method":"m"}`, true},
		{"nested id ignored", `{"jsonrpc":"2.0","id":1}`, `{"jsonrpc":"2.0","id":1,"params":{"id":2,"s":"\"id\":3"}}`, true},
		{"string id", `{"jsonrpc":"2.0","id":"x\"y"}`, `{"jsonrpc":"2.0","id":"x\"y","result":[1,{"a":[]}]}`, true},
		{"id changed", `{"jsonrpc":"2.0","id":7}`, `{"jsonrpc":"2.0","id":8}`, false},
		{"id spelled differently", `{"jsonrpc":"2.0","id":7}`, `{"jsonrpc":"2.0","id":7.0}`, false},
		{"id added", `{"jsonrpc":"2.0","method":"n"}`, `{"jsonrpc":"2.0","id":1,"method":"n"}`, false},
		{"escaped key", `{"jsonrpc":"2.0","id":7}`, `{"json\u0072pc":"2.0","id":7}`, false},
		{"not an object", `{"jsonrpc":"2.0"}`, `"jsonrpc"`, false},
		{"invalid original", `not json`, `{"jsonrpc":"2.0"}`, true},
		{"empty", `{}`, ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkRewrite([]byte(tt.orig), []byte(tt.frame))
			if (err == nil) != tt.ok {
				t.Fatalf("checkRewrite = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	orig, frame := []byte(`{"jsonrpc":"2.0","id":7}`), []byte(`{"jsonrpc":"2.0","id":7,"result":{}}`)
	if n := testing.AllocsPerRun(100, func() { _ = checkRewrite(orig, frame) }); n != 0 {
		t.Fatalf("checkRewrite allocates %.0f times", n)
	}
}

func FuzzCheckRewrite(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":7}`), []byte(`{"jsonrpc":"2.0","id":7,"result":{}}`))
	f.Add([]byte(`{"a":"\"}`), []byte(`{"jsonrpc":"2.0"}`))
	f.Fuzz(func(t *testing.T, orig, frame []byte) {
		_ = checkRewrite(orig, frame)
		_, _, _ = envelope(orig)
	})
}
