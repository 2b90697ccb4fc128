//go:build !wasip1

package portcullis

import (
	"bytes"
	"strings"
	"testing"

	"github.com/portcullis-mcp/portcullis/abi"
	"github.com/portcullis-mcp/portcullis/abi/abitest"
)

func TestDispatch_GoldenInputs(t *testing.T) {
	vecs := abitest.MustLoad(t)
	var got Call
	for _, h := range abi.Hooks {
		handlers[h] = func(c *Call) Verdict {
			got = *c
			got.Frame, got.RawConfig = bytes.Clone(c.Frame), bytes.Clone(c.RawConfig)
			return Allow()
		}
	}
	t.Cleanup(func() { handlers = [abi.HookAudit + 1]Handler{} })
	for _, vec := range vecs.Inputs {
		t.Run(vec.Name, func(t *testing.T) {
			res := dispatch(mustHook(t, vec.Hook), abitest.Bytes(vec.Hex))
			if !bytes.Equal(res, abi.AppendVerdict(nil, &abi.Verdict{})) {
				t.Fatalf("verdict %x, want allow", res)
			}
			if got.Hook.String() != vec.Hook || got.Direction.String() != vec.Direction ||
				got.Server != vec.Server || got.Tool != vec.Tool || got.Agent != vec.Agent || got.Team != vec.Team ||
				string(got.RawConfig) != vec.Config || string(got.Frame) != vec.Frame || len(got.Replicas) != len(vec.Replicas) {
				t.Fatalf("handler saw %+v\nvector %+v", got, vec)
			}
			for i, r := range vec.Replicas {
				if got.Replicas[i] != abi.Replica(r) {
					t.Fatalf("replica %d = %+v, want %+v", i, got.Replicas[i], r)
				}
			}
		})
	}
}

func mustHook(t *testing.T, name string) abi.Hook {
	h, ok := abi.ParseHook(name)
	if !ok {
		t.Fatalf("unknown hook %q", name)
	}
	return h
}

func TestVerdict_Golden(t *testing.T) {
	vecs := abitest.MustLoad(t)
	for _, vec := range vecs.Verdicts {
		t.Run(vec.Name, func(t *testing.T) {
			var v Verdict
			switch vec.Action {
			case "allow":
				v = Allow()
			case "block":
				v = BlockCode(vec.Code, vec.Payload)
			case "rewrite":
				v = Rewrite([]byte(vec.Payload))
			case "route":
				v = RouteTo(int(vec.Replica))
			}
			if got := abi.AppendVerdict(nil, &v.v); !bytes.Equal(got, abitest.Bytes(vec.Hex)) {
				t.Fatalf("got %x\nwant %s", got, vec.Hex)
			}
		})
	}
}

func TestDispatch_Failures(t *testing.T) {
	t.Cleanup(func() { handlers = [abi.HookAudit + 1]Handler{} })
	OnRequest(func(c *Call) Verdict { panic("boom") })
	in := &abi.Input{Hook: abi.HookRequestGuard, Frame: []byte(`{}`)}
	tests := []struct {
		name string
		run  func() ([]byte, []string)
		log  string
	}{
		{"panic", func() ([]byte, []string) { return Test(in) }, "error portcullis: request_guard handler panicked: boom"},
		{"no handler", func() ([]byte, []string) {
			return Test(&abi.Input{Hook: abi.HookAudit})
		}, "error portcullis: no handler registered for hook audit"},
		{"bad input", func() ([]byte, []string) {
			logged = logged[:0]
			return dispatch(abi.HookRequestGuard, []byte{1, 2, 3}), logged
		}, "error portcullis: bad input message for request_guard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, logs := tt.run()
			if res != nil {
				t.Fatalf("verdict %x, want nil (no verdict)", res)
			}
			if len(logs) != 1 || !strings.HasPrefix(logs[0], tt.log) {
				t.Fatalf("logs %q, want %q", logs, tt.log)
			}
		})
	}
}

func TestBlock_CutsLongReason(t *testing.T) {
	v := Block(strings.Repeat("é", 600)) // 1200 bytes
	var d abi.Verdict
	if err := abi.DecodeVerdict(abi.AppendVerdict(nil, &v.v), &d); err != nil {
		t.Fatalf("long reason makes a malformed verdict: %v", err)
	}
	if len(d.Payload) != 1024 {
		t.Fatalf("reason cut to %d bytes, want 1024", len(d.Payload))
	}
}

func TestCall_Config(t *testing.T) {
	var cfg struct{ Deny []string }
	c := &Call{RawConfig: []byte(`{"deny":["x"]}`)}
	if err := c.Config(&cfg); err != nil || len(cfg.Deny) != 1 {
		t.Fatalf("Config = %v, %+v", err, cfg)
	}
	if err := (&Call{RawConfig: []byte(`{`)}).Config(&cfg); err == nil {
		t.Fatal("Config accepted invalid JSON")
	}
	if err := (&Call{}).Config(&cfg); err != nil {
		t.Fatalf("empty config: %v", err)
	}
	if implemented() != 0 {
		t.Fatal("no handler registered, yet the hooks mask is not empty")
	}
	OnRoute(func(*Call) Verdict { return RouteTo(0) })
	defer func() { handlers = [abi.HookAudit + 1]Handler{} }()
	if implemented() != abi.HookRoute.Bit() {
		t.Fatalf("mask %b", implemented())
	}
}
