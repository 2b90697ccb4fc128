package plugin

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/abi"
)

// extismGuest is testdata/extism-guest, its own module so that the main
// module's tests ignore it.
var extismGuest = &goGuest{dir: filepath.Join("testdata", "extism-guest"), pkg: ".", env: []string{"GOFLAGS=-mod=mod"}}

func TestEngine_Load_Extism(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	wasm := extismGuest.build(t)
	e, _ := newEngine(t)
	ctx := context.Background()
	p, err := e.Load(ctx, wasm, Spec{Name: "xg", Version: "1", Hooks: []abi.Hook{abi.HookRequestGuard}, Instances: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if p.Format() != FormatExtism {
		t.Fatalf("format %s, want extism", p.Format())
	}
	tests := []struct {
		name    string
		frame   string
		timeout time.Duration
		action  abi.Action
		reason  string
		err     error
	}{
		{"allow", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, time.Second, abi.ActionAllow, "", nil},
		{"block", `{"jsonrpc":"2.0","id":1,"params":"forbidden"}`, time.Second, abi.ActionBlock, "forbidden word (extism)", nil},
		{"runaway", `{"jsonrpc":"2.0","id":1,"params":"spin"}`, 100 * time.Millisecond, 0, "", ErrTimeout},
		{"after the runaway", `{"jsonrpc":"2.0","id":2}`, time.Second, abi.ActionAllow, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(abi.HookRequestGuard, nil)
			in.Frame = []byte(tt.frame)
			var v abi.Verdict
			err := p.Call(ctx, in, tt.timeout, &v)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Call error = %v, want %v", err, tt.err)
			}
			if err == nil && (v.Action != tt.action || string(v.Payload) != tt.reason) {
				t.Fatalf("verdict %s %q, want %s %q", v.Action, v.Payload, tt.action, tt.reason)
			}
		})
	}
	if s := p.Stats(); s.Timeouts != 1 || s.Replaced != 1 {
		t.Fatalf("stats %+v, want 1 timeout and 1 replaced instance", s)
	}
}

func TestEngine_Load_ExtismRefusesMissingHook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	e, _ := newEngine(t)
	_, err := e.Load(context.Background(), extismGuest.build(t), Spec{Name: "xg", Version: "1", Hooks: []abi.Hook{abi.HookAudit}})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "missing export portcullis_audit") {
		t.Fatalf("Load error = %v, want ErrRefused for the missing audit export", err)
	}
}
