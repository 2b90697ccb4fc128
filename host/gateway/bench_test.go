package gateway

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/config"
	"github.com/portcullis-mcp/portcullis/host/demo"
	"github.com/portcullis-mcp/portcullis/host/guard"
	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
	"github.com/portcullis-mcp/portcullis/host/plugin"
	"github.com/portcullis-mcp/portcullis/host/upstream"
)

// rawEcho is an upstream that answers every request with a fixed tool result, decoding nothing
// but the envelope, so that a benchmark through it measures the gateway rather than the server.
func rawEcho(r io.ReadCloser, w io.WriteCloser) {
	br := bufio.NewReader(r)
	bw := bufio.NewWriter(w)
	var out []byte
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		var env jsonrpc.Envelope
		if jsonrpc.Decode(line, &env) != nil || env.Kind != jsonrpc.KindRequest {
			continue
		}
		result := `{"content":[{"type":"text","text":"ok"}]}`
		if env.MethodIs("initialize") {
			result = `{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"raw","version":"1"}}`
		}
		out = jsonrpc.AppendResult(out[:0], env.ID.In(line), []byte(result))
		bw.Write(append(out, '\n'))
		if br.Buffered() == 0 {
			bw.Flush()
		}
	}
}

// BenchmarkGateway_ToolsCallGuarded measures what bound guards add to a tools/call: none, and
// three bindings of a trivial native plugin on both directions, against the raw upstream.
func BenchmarkGateway_ToolsCallGuarded(b *testing.B) {
	allow, _ := filepath.Abs("../plugin/testdata/allow.wasm")
	for _, n := range []int{0, 3} {
		b.Run(fmt.Sprintf("guards=%d", n), func(b *testing.B) {
			yaml := "servers:\n  - name: up\n    transport: demo\n"
			if n > 0 {
				yaml += "plugins:\n  - {name: allow, version: 1.0.0, path: " + allow + ", hooks: [request_guard, response_guard]}\nbindings:\n"
				for i := range n {
					yaml += fmt.Sprintf("  - {name: g%d, plugin: allow, config: {n: %d}}\n", i, i)
				}
			}
			cfg, err := config.Parse([]byte(yaml))
			if err != nil {
				b.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			opts := Options{Log: log, Env: upstream.Env{Log: log, Demo: rawEcho}}
			if n > 0 {
				eng, err := plugin.NewEngine(plugin.EngineConfig{CacheDir: b.TempDir(), Logger: log})
				if err != nil {
					b.Fatal(err)
				}
				guards, err := guard.Load(context.Background(), eng, cfg, "")
				if err != nil {
					b.Fatal(err)
				}
				defer eng.Close(context.Background())
				defer guards.Close(context.Background())
				opts.Guards = guards
			}
			benchCalls(b, New(cfg, opts), "up__echo")
		})
	}
}

// BenchmarkGateway_ToolsCall drives the gateway's HTTP handler directly (no sockets) with
// tools/call requests on one session, against the raw upstream and the go-sdk demo server.
func BenchmarkGateway_ToolsCall(b *testing.B) {
	for _, up := range []struct {
		name  string
		serve func(io.ReadCloser, io.WriteCloser)
		tool  string
	}{{"raw-upstream", rawEcho, "up__echo"}, {"go-sdk-upstream", demo.Serve, "up__echo"}} {
		b.Run(up.name, func(b *testing.B) {
			cfg, err := config.Parse([]byte("servers:\n  - name: up\n    transport: demo\n"))
			if err != nil {
				b.Fatal(err)
			}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			benchCalls(b, New(cfg, Options{Log: log, Env: upstream.Env{Log: log, Demo: up.serve}}), up.tool)
		})
	}
}

// benchCalls runs tools/call requests for tool through g's handler, in parallel on one session.
func benchCalls(b *testing.B, g *Gateway, tool string) {
	session := benchInitialize(b, g)
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var ctx fasthttp.RequestCtx
		var body []byte
		for pb.Next() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI("/mcp")
			ctx.Request.Header.Set("Mcp-Session-Id", session)
			ctx.Request.Header.SetContentType("application/json")
			body = append(body[:0], `{"jsonrpc":"2.0","id":`...)
			body = strconv.AppendInt(body, seq.Add(1), 10)
			body = append(body, `,"method":"tools/call","params":{"name":"`+tool+`","arguments":{"message":"hello"}}}`...)
			ctx.Request.SetBody(body)
			g.handle(&ctx)
			if ctx.Response.StatusCode() != 200 || ctx.Response.IsBodyStream() || bytes.Contains(ctx.Response.Body(), []byte(`"error"`)) {
				b.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	})
}

func benchInitialize(b *testing.B, g *Gateway) string {
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI("/mcp")
	ctx.Request.SetBodyString(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	g.handle(&ctx)
	id := string(ctx.Response.Header.Peek("Mcp-Session-Id"))
	if id == "" {
		b.Fatalf("initialize: %s", ctx.Response.Body())
	}
	return id
}
