//go:build !wasip1

package main

import (
	"testing"

	"github.com/portcullis-mcp/portcullis/abi"
	portcullis "github.com/portcullis-mcp/portcullis/sdk/go"
)

// TestGuard runs the handlers natively through portcullis.Test, as the
// README shows; sdk/go's tests run the built module in the real engine.
func TestGuard(t *testing.T) {
	tests := []struct {
		name   string
		hook   abi.Hook
		frame  string
		action abi.Action
		want   string
	}{
		{"denied", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"rm -rf /"}}}`,
			abi.ActionBlock, "denied phrase in arguments: rm -rf"},
		{"escaped phrase", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"rm \u002drf /"}}}`,
			abi.ActionBlock, "denied phrase in arguments: rm -rf"},
		{"harmless", abi.HookRequestGuard,
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sh","arguments":{"cmd":"ls"}}}`,
			abi.ActionAllow, ""},
		{"redacted", abi.HookResponseGuard, `{"jsonrpc":"2.0","id":1,"result":"AKIAABCDEFGHIJKLMNOP"}`,
			abi.ActionRewrite, `{"jsonrpc":"2.0","id":1,"result":"[REDACTED]"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, logs := portcullis.Test(&abi.Input{Hook: tt.hook, Config: []byte(`{"deny":["rm -rf"]}`), Frame: []byte(tt.frame)})
			var v abi.Verdict
			if err := abi.DecodeVerdict(res, &v); err != nil {
				t.Fatalf("verdict %x: %v (logs %q)", res, err, logs)
			}
			if v.Action != tt.action || string(v.Payload) != tt.want {
				t.Fatalf("got %s %q, want %s %q", v.Action, v.Payload, tt.action, tt.want)
			}
		})
	}
}
