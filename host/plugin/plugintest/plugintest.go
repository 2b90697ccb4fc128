// Package plugintest runs guest modules in the real plugin engine for tests: every SDK checks its
// conformance guest against the ABI's golden vectors with Conformance, and plugins load their
// built module with Load.
//
// A conformance guest answers every hook the same way. It first emits an event named "call"
// whose data is the decoded input as JSON, in the shape of an abitest.Input (hook, direction,
// server, tool, agent, team, config, frame, replicas; name and hex left out). Then it reads the
// binding config:
//
//	{"action":"allow|block|rewrite|route","code":-32050,"replica":2,"payload":"..."}
//	    answer with that verdict (block: code and reason; rewrite: payload as the frame;
//	    route: replica); a config it cannot parse, or no action, is allow
//	{"spin":true}   loop forever            {"hog":true}   grow memory without end
//	{"panic":true}  fail (trap or no verdict, as the language does it)
//	{"log":"text"}  log text at info level, then answer as above
package plugintest

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/abi/abitest"
	"github.com/portcullis-mcp/portcullis/host/plugin"
)

// Sink collects the logs and events of the plugins of one engine. It is safe for concurrent use.
type Sink struct {
	mu     sync.Mutex
	events map[string][]string
	logs   []string
}

// Enabled implements slog.Handler.
func (s *Sink) Enabled(context.Context, slog.Level) bool { return true }

// WithAttrs implements slog.Handler.
func (s *Sink) WithAttrs([]slog.Attr) slog.Handler { return s }

// WithGroup implements slog.Handler.
func (s *Sink) WithGroup(string) slog.Handler { return s }

// Handle implements slog.Handler: it keeps "LEVEL message".
func (s *Sink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs = append(s.logs, r.Level.String()+" "+r.Message)
	return nil
}

func (s *Sink) event(_ string, name, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.events == nil {
		s.events = map[string][]string{}
	}
	s.events[string(name)] = append(s.events[string(name)], string(data))
}

// Take returns and forgets the data of the events named name.
func (s *Sink) Take(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev := s.events[name]
	delete(s.events, name)
	return ev
}

// Logs returns the log lines so far.
func (s *Sink) Logs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.logs...)
}

// Load loads wasm into a fresh engine whose logs and events go to the returned Sink. An empty
// spec name or version becomes "guest" and "0.0.1"; no hooks means every hook. Both are closed
// when the test ends.
func Load(t testing.TB, wasm []byte, spec plugin.Spec) (*plugin.Plugin, *Sink) {
	t.Helper()
	s := &Sink{}
	e, err := plugin.NewEngine(plugin.EngineConfig{Logger: slog.New(s), Events: s.event})
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name == "" {
		spec.Name = "guest"
	}
	if spec.Version == "" {
		spec.Version = "0.0.1"
	}
	if spec.Hooks == nil {
		spec.Hooks = abi.Hooks[:]
	}
	p, err := e.Load(context.Background(), wasm, spec)
	if err != nil {
		e.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close(context.Background())
		e.Close(context.Background())
	})
	return p, s
}

// Conformance checks a conformance guest (see the package doc) in the real engine: it decodes
// every golden input exactly, encodes every golden verdict exactly, and a runaway loop, an
// unbounded allocation and a failure each cost only the call they happen in. panicLog, when not
// empty, is a log line the guest's failure must leave (e.g. the SDK's panic report).
func Conformance(t *testing.T, wasm []byte, panicLog string) {
	t.Run("GoldenInputs", func(t *testing.T) { goldenInputs(t, wasm) })
	t.Run("GoldenVerdicts", func(t *testing.T) { goldenVerdicts(t, wasm) })
	t.Run("Failures", func(t *testing.T) { failures(t, wasm, panicLog) })
}

func goldenInputs(t *testing.T, wasm []byte) {
	p, s := Load(t, wasm, plugin.Spec{})
	for _, vec := range abitest.MustLoad(t).Inputs {
		t.Run(vec.Name, func(t *testing.T) {
			in, err := vec.ABI()
			if err != nil {
				t.Fatal(err)
			}
			var v abi.Verdict
			if err := p.Call(context.Background(), &in, time.Second, &v); err != nil {
				t.Fatal(err)
			}
			events := s.Take("call")
			if len(events) != 1 {
				t.Fatalf("%d call events, want 1", len(events))
			}
			var got abitest.Input
			if err := json.Unmarshal([]byte(events[0]), &got); err != nil {
				t.Fatalf("call event %q: %v", events[0], err)
			}
			got.Name, got.Hex = vec.Name, vec.Hex
			if len(got.Replicas) == 0 && len(vec.Replicas) == 0 {
				got.Replicas = vec.Replicas
			}
			want, _ := json.Marshal(vec)
			have, _ := json.Marshal(got)
			if string(want) != string(have) {
				t.Fatalf("guest decoded\n%s\nwant\n%s", have, want)
			}
		})
	}
}

func goldenVerdicts(t *testing.T, wasm []byte) {
	p, _ := Load(t, wasm, plugin.Spec{})
	for _, vec := range abitest.MustLoad(t).Verdicts {
		t.Run(vec.Name, func(t *testing.T) {
			want, err := vec.ABI()
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := json.Marshal(map[string]any{"action": vec.Action, "code": vec.Code, "replica": vec.Replica, "payload": vec.Payload})
			hook := abi.HookResponseGuard
			if want.Action == abi.ActionRoute {
				hook = abi.HookRoute
			}
			in := abi.Input{Hook: hook, Config: cfg, Frame: []byte(`{"jsonrpc":"2.0","id":"a-1","result":{}}`),
				Replicas: make([]abi.Replica, 3)}
			var got abi.Verdict
			if err := p.Call(context.Background(), &in, time.Second, &got); err != nil {
				t.Fatal(err)
			}
			if got.Action != want.Action || got.Code != want.Code || got.Replica != want.Replica || string(got.Payload) != string(want.Payload) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func failures(t *testing.T, wasm []byte, panicLog string) {
	p, s := Load(t, wasm, plugin.Spec{MemoryLimitPages: 1024, Breaker: plugin.BreakerConfig{Failures: 100}})
	tests := []struct {
		name    string
		config  string
		timeout time.Duration
		want    []error
	}{
		{"infinite loop", `{"spin":true}`, 100 * time.Millisecond, []error{plugin.ErrTimeout}},
		{"unbounded allocation", `{"hog":true}`, 10 * time.Second, []error{plugin.ErrTrap, plugin.ErrGuestFailed}},
		{"panic", `{"panic":true}`, time.Second, []error{plugin.ErrTrap, plugin.ErrGuestFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := abi.Input{Hook: abi.HookRequestGuard, Config: []byte(tt.config), Frame: []byte(`{}`)}
			var v abi.Verdict
			start := time.Now()
			err := p.Call(context.Background(), &in, tt.timeout, &v)
			if !matchesAny(err, tt.want) {
				t.Fatalf("Call error = %v, want one of %v", err, tt.want)
			}
			if took := time.Since(start); took > tt.timeout+2*time.Second {
				t.Fatalf("stopped after %v, deadline %v", took, tt.timeout)
			}
			in.Config = []byte(`{"log":"still alive"}`)
			if err := p.Call(context.Background(), &in, 5*time.Second, &v); err != nil || v.Action != abi.ActionAllow {
				t.Fatalf("call after the failure: %v %s", err, v.Action)
			}
		})
	}
	if panicLog == "" {
		return
	}
	for _, l := range s.Logs() {
		if l == panicLog {
			return
		}
	}
	t.Fatalf("failure not logged as %q: %q", panicLog, s.Logs())
}

func matchesAny(err error, want []error) bool {
	for _, w := range want {
		if errors.Is(err, w) {
			return true
		}
	}
	return false
}
