package pii_test

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

// nomatch1K is a 1 KiB tools/call with the numbers, ids and hashes real calls carry, and no
// personal data.
func nomatch1K(tb testing.TB) []byte {
	body := "Deploy of api v1.22.3 (commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904) failed at 2024-01-15T10:30:00Z " +
		"on node 10.0.12.7: request 550e8400-e29b-41d4-a716-446655440000 timed out after 30000 ms. " +
		"Steps to reproduce: run `make test` in services/billing, then open http://localhost:8080/health. " +
		"The retry budget (3 attempts, 250 ms backoff) was exhausted; see the dashboard for p99 latency. " +
		"Follow the installation instructions in docs/INSTALL.md before filing a duplicate."
	args := map[string]any{"repo": "acme/api", "title": "Deploy failed on node 10.0.12.7", "labels": []string{"bug", "deploy", "p2"}, "body": body}
	frame, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1842, "method": "tools/call",
		"params": map[string]any{"name": "create_issue", "arguments": args}})
	pad := 1024 - len(frame)
	if pad < 0 {
		tb.Fatalf("frame is %d bytes", len(frame))
	}
	args["body"] = body + strings.Repeat(" More context follows in the linked runbook.", pad/44+1)[:pad]
	frame, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1842, "method": "tools/call",
		"params": map[string]any{"name": "create_issue", "arguments": args}})
	if len(frame) != 1024 {
		tb.Fatalf("frame is %d bytes", len(frame))
	}
	return frame
}

// result64K is a 64 KiB tools/call result of log lines; every `every`-th line (0: none) holds
// an email address and a phone number.
func result64K(every int) []byte {
	var b strings.Builder
	for i := 0; b.Len() < 64<<10-200; i++ {
		fmt.Fprintf(&b, "2024-01-15T10:%02d:%02d.%03dZ INFO req=%08x-e29b-41d4-a716-%012x GET /api/v1/orders/%d 200 %dms sha=4b825dc642cb6eb9a060e54bf8d69288fbee4904\n",
			i/60%60, i%60, i%1000, i*7919, i*104729, 10000+i, 3+i%40)
		if every > 0 && i%every == 0 {
			fmt.Fprintf(&b, "customer jane.doe%d@acme.io called from +1 (415) 555-%04d\n", i, 2000+i%8000)
		}
	}
	frame, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 77, "result": map[string]any{
		"content": []any{map[string]any{"type": "text", "text": b.String()}}}})
	return frame
}

func BenchmarkPII(b *testing.B) {
	p, _ := load(b)
	for _, bc := range []struct {
		name   string
		hook   abi.Hook
		frame  []byte
		action abi.Action
	}{
		{"1KiB-nomatch", abi.HookRequestGuard, nomatch1K(b), abi.ActionAllow},
		{"64KiB-result", abi.HookResponseGuard, result64K(0), abi.ActionAllow},
		{"64KiB-result-redact", abi.HookResponseGuard, result64K(50), abi.ActionRewrite},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := abi.Input{Hook: bc.hook, Direction: bc.hook.Direction(), Frame: bc.frame}
			var v abi.Verdict
			if err := p.Call(context.Background(), &in, time.Second, &v); err != nil || v.Action != bc.action {
				b.Fatalf("%v %v %.200s", err, v.Action, v.Payload)
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

// BenchmarkPII_Instantiate reports the module size and the time to create an instance (the
// pool does it at load and to replace a failed instance; compiling is cached after the first).
func BenchmarkPII_Instantiate(b *testing.B) {
	bi, _ := plugins.Lookup("pii")
	e, err := plugin.NewEngine(plugin.EngineConfig{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())
	spec := plugin.Spec{Name: "pii", Version: bi.Manifest.Version, Hooks: []abi.Hook{abi.HookRequestGuard, abi.HookResponseGuard}, Instances: 1}
	b.ReportMetric(float64(len(bi.Wasm)), "wasm-bytes")
	for b.Loop() {
		p, err := e.Load(context.Background(), bi.Wasm, spec)
		if err != nil {
			b.Fatal(err)
		}
		p.Close(context.Background())
	}
}

// BenchmarkPII_Config measures a call whose config differs from the last one's, so that the
// instance parses and compiles it again (a binding's first call, or bindings with different
// configs taking turns on one instance, more of them than it keeps compiled).
func BenchmarkPII_Config(b *testing.B) {
	p, _ := load(b)
	var configs [][]byte
	for i := range 9 { // more than an instance keeps
		configs = append(configs, []byte(`{"action":"redact"`+strings.Repeat(" ", i)+"}"))
	}
	in := abi.Input{Hook: abi.HookRequestGuard, Direction: abi.HookRequestGuard.Direction(), Frame: nomatch1K(b)}
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
