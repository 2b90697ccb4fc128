package plugin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/portcullis-mcp/portcullis/abi"
)

func TestNewChain_Validates(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{})
	tests := []struct {
		name     string
		bindings []Binding
		want     string
	}{
		{"no name", []Binding{{Plugin: p}}, "needs a name"},
		{"no plugin", []Binding{{Name: "a"}}, "a: no plugin"},
		{"bad config", []Binding{{Name: "a", Plugin: p, Config: []byte("{")}}, "config is not valid JSON"},
		{"empty glob", []Binding{{Name: "a", Plugin: p, Tools: []string{""}}}, `pattern "": empty pattern`},
		{"duplicate", []Binding{{Name: "a", Plugin: p}, {Name: "a", Plugin: p}}, `"a" used twice`},
		{"bad mode", []Binding{{Name: "a", Plugin: p, Mode: 9}}, "invalid direction, mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewChain(tt.bindings)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewChain error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseNames(t *testing.T) {
	if d, err := ParseDirection("response"); err != nil || d != DirectionResponse {
		t.Fatal("ParseDirection(response)")
	}
	if m, err := ParseMode(""); err != nil || m != ModeEnforce {
		t.Fatal("ParseMode default")
	}
	if f, err := ParseFailurePolicy("fail-open"); err != nil || f != FailOpen {
		t.Fatal("ParseFailurePolicy(fail-open)")
	}
	if _, err := ParseMode("audit"); err == nil {
		t.Fatal("ParseMode accepted an unknown mode")
	}
}

func TestChain_Run(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{Breaker: BreakerConfig{Failures: 1000}})
	block := func(reason string) []byte {
		return script(abi.Verdict{Action: abi.ActionBlock, Payload: []byte(reason)})
	}
	redact := func(frame string) []byte {
		return script(abi.Verdict{Action: abi.ActionRewrite, Payload: []byte(frame)})
	}
	redacted := `{"jsonrpc":"2.0","id":"a-1","method":"tools/call","params":{"name":"[REDACTED]"}}`
	again := `{"jsonrpc":"2.0","id":"a-1","method":"tools/call"}`
	b := func(name string, cfg []byte, mod func(*Binding)) Binding {
		bd := Binding{Name: name, Plugin: p, Config: cfg}
		if mod != nil {
			mod(&bd)
		}
		return bd
	}
	monitor := func(b *Binding) { b.Mode = ModeMonitor }
	open := func(b *Binding) { b.OnFailure = FailOpen }
	tests := []struct {
		name      string
		hook      abi.Hook
		bindings  []Binding
		blocked   bool
		code      int32
		reason    string
		by        string
		frame     string
		replica   int
		outcomes  string // binding:action[!] per outcome; ! = applied, E = error
		rewritten bool
	}{
		{name: "no bindings", hook: abi.HookRequestGuard, frame: string(testFrame), replica: -1},
		{name: "allow", hook: abi.HookRequestGuard, bindings: []Binding{b("a", allowCfg, nil)},
			frame: string(testFrame), replica: -1, outcomes: "a:allow"},
		{name: "block stops the chain", hook: abi.HookRequestGuard,
			bindings: []Binding{b("a", block("no secrets"), nil), b("b", allowCfg, nil)},
			blocked:  true, code: abi.CodeBlocked, reason: "no secrets", by: "a", replica: -1, outcomes: "a:block!"},
		{name: "order beats position", hook: abi.HookRequestGuard,
			bindings: []Binding{b("late", block("late"), func(b *Binding) { b.Order = 2 }), b("early", block("early"), func(b *Binding) { b.Order = 1 })},
			blocked:  true, code: abi.CodeBlocked, reason: "early", by: "early", replica: -1, outcomes: "early:block!"},
		{name: "custom code", hook: abi.HookResponseGuard,
			bindings: []Binding{b("a", script(abi.Verdict{Action: abi.ActionBlock, Code: -32050, Payload: []byte("x")}), nil)},
			blocked:  true, code: -32050, reason: "x", by: "a", replica: -1, outcomes: "a:block!"},
		{name: "rewrites chain", hook: abi.HookRequestGuard,
			bindings: []Binding{b("r1", redact(redacted), nil), b("r2", redact(again), nil), b("ok", allowCfg, nil)},
			frame:    again, rewritten: true, replica: -1, outcomes: "r1:rewrite! r2:rewrite! ok:allow"},
		{name: "monitor records only", hook: abi.HookRequestGuard,
			bindings: []Binding{b("m", block("would block"), monitor), b("r", redact(redacted), monitor)},
			frame:    string(testFrame), replica: -1, outcomes: "m:block r:rewrite"},
		{name: "fail closed", hook: abi.HookRequestGuard, bindings: []Binding{b("t", mode("T"), nil), b("a", allowCfg, nil)},
			blocked: true, code: abi.CodePluginFailed, reason: string(failureReason), by: "t", replica: -1, outcomes: "t:E!"},
		{name: "fail open", hook: abi.HookRequestGuard, bindings: []Binding{b("t", mode("T"), open), b("a", allowCfg, nil)},
			frame: string(testFrame), replica: -1, outcomes: "t:E a:allow"},
		{name: "monitor failure never blocks", hook: abi.HookRequestGuard, bindings: []Binding{b("t", mode("N"), monitor)},
			frame: string(testFrame), replica: -1, outcomes: "t:E"},
		{name: "server glob", hook: abi.HookRequestGuard,
			bindings: []Binding{b("other", block("x"), func(b *Binding) { b.Servers = []string{"git*"} }), b("mine", allowCfg, func(b *Binding) { b.Servers = []string{"fi?es"} })},
			frame:    string(testFrame), replica: -1, outcomes: "mine:allow"},
		{name: "tool glob", hook: abi.HookRequestGuard,
			bindings: []Binding{b("w", block("x"), func(b *Binding) { b.Tools = []string{"write_*"} }), b("r", block("read"), func(b *Binding) { b.Tools = []string{"read_*"} })},
			blocked:  true, code: abi.CodeBlocked, reason: "read", by: "r", replica: -1, outcomes: "r:block!"},
		{name: "direction", hook: abi.HookResponseGuard,
			bindings: []Binding{b("req", block("x"), func(b *Binding) { b.Direction = DirectionRequest }), b("resp", allowCfg, func(b *Binding) { b.Direction = DirectionResponse })},
			frame:    string(testFrame), replica: -1, outcomes: "resp:allow"},
		{name: "tool filter ignores tool globs", hook: abi.HookToolFilter,
			bindings: []Binding{b("f", allowCfg, func(b *Binding) { b.Tools = []string{"nothing_*"} })},
			frame:    string(testFrame), replica: -1, outcomes: "f:allow"},
		{name: "route", hook: abi.HookRoute,
			bindings: []Binding{b("none", allowCfg, nil), b("pick", script(abi.Verdict{Action: abi.ActionRoute, Replica: 2}), nil), b("later", allowCfg, nil)},
			frame:    string(testFrame), replica: 2, by: "pick", outcomes: "none:allow pick:route!"},
		{name: "audit runs all", hook: abi.HookAudit,
			bindings: []Binding{b("s1", allowCfg, nil), b("s2", mode("T"), nil), b("s3", allowCfg, nil)},
			frame:    string(testFrame), replica: -1, outcomes: "s1:allow s2:E s3:allow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewChain(tt.bindings)
			if err != nil {
				t.Fatal(err)
			}
			call := &Call{Server: "files", Tool: "read_file", Agent: "bot", Frame: testFrame, Replicas: testReplic}
			var res Result
			c.Run(context.Background(), tt.hook, call, &res)
			var outcomes []string
			for _, o := range res.Outcomes {
				s := o.Binding.Name + ":" + o.Action.String()
				if o.Err != nil {
					s = o.Binding.Name + ":E"
				}
				if o.Applied {
					s += "!"
				}
				outcomes = append(outcomes, s)
			}
			if got := strings.Join(outcomes, " "); got != tt.outcomes {
				t.Errorf("outcomes %q, want %q", got, tt.outcomes)
			}
			if res.Blocked != tt.blocked || res.Code != tt.code || string(res.Reason) != tt.reason {
				t.Errorf("blocked=%v code=%d reason=%q, want %v %d %q", res.Blocked, res.Code, res.Reason, tt.blocked, tt.code, tt.reason)
			}
			by := ""
			if res.By >= 0 {
				by = res.Outcomes[res.By].Binding.Name
			}
			if by != tt.by || res.Replica != tt.replica {
				t.Errorf("by %q replica %d, want %q %d", by, res.Replica, tt.by, tt.replica)
			}
			if !res.Blocked && (string(res.Frame) != tt.frame || res.Rewritten != tt.rewritten) {
				t.Errorf("frame %s (rewritten %v), want %s (%v)", res.Frame, res.Rewritten, tt.frame, tt.rewritten)
			}
			if string(call.Frame) != string(testFrame) {
				t.Error("Run modified the call's frame")
			}
		})
	}
}

func TestChain_Run_Failures(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{})
	c, err := NewChain([]Binding{{Name: "t", Plugin: p, Config: mode("T")}})
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	c.Run(context.Background(), abi.HookRequestGuard, &Call{Frame: testFrame}, &res)
	if len(res.Outcomes) != 1 || !errors.Is(res.Outcomes[0].Err, ErrTrap) {
		t.Fatalf("outcome error %v, want ErrTrap", res.Outcomes)
	}
	if !c.Has(abi.HookAudit) || c.Has(0) || len(c.Bindings()) != 1 {
		t.Fatal("Has or Bindings disagree with the chain")
	}
}

func TestChain_Run_NoAllocs(t *testing.T) {
	e, _ := newEngine(t)
	p := load(t, e, "script", Spec{})
	c, err := NewChain([]Binding{
		{Name: "elsewhere", Plugin: p, Config: allowCfg, Servers: []string{"github"}},
		{Name: "guard", Plugin: p, Config: allowCfg, Servers: []string{"files"}},
		{Name: "redact", Plugin: p, Config: script(abi.Verdict{Action: abi.ActionRewrite, Payload: testFrame}), Servers: []string{"files"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var res Result
	ctx := context.Background()
	tests := []struct {
		name string
		call Call
	}{
		{"no binding matches", Call{Server: "slack", Tool: "post", Frame: testFrame}},
		{"allow and rewrite", Call{Server: "files", Tool: "read_file", Frame: testFrame}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.Run(ctx, abi.HookRequestGuard, &tt.call, &res) // warm the buffers
			n := testing.AllocsPerRun(200, func() { c.Run(ctx, abi.HookRequestGuard, &tt.call, &res) })
			if n != 0 {
				t.Fatalf("Run allocates %.1f times per call", n)
			}
		})
	}
}
