// Package echo is a deliberately fast MCP server for benchmarks: it answers
// Streamable HTTP requests with plain JSON straight from the raw bytes, so a
// measurement through a gateway shows the gateway's cost rather than the
// upstream's.
//
// It keeps no state. It hands out a session id on initialize and accepts any
// session id afterwards, and it serves the stateless 2026-07-28 protocol
// (server/discover and requests carrying _meta) as well. It offers one tool,
// one resource and one prompt, all named echo:
//
//   - tools/call echo returns its arguments, as JSON text, in a text content block;
//   - resources/read returns the requested URI as the resource's text;
//   - prompts/get echo returns its arguments as the text of one user message.
//
// Every path on the listener serves the same endpoint.
package echo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
)

// Serve listens on addr and serves the echo server until ctx is cancelled.
func Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return ServeListener(ctx, ln)
}

// ServeListener serves the echo server on ln until ctx is cancelled, then
// closes ln. It returns nil after a cancellation.
func ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &fasthttp.Server{
		Handler:              Handler,
		Name:                 "portcullis-bench-echo",
		NoDefaultDate:        true,
		NoDefaultContentType: true,
		ReadBufferSize:       16 << 10,
		CloseOnShutdown:      true,
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			_ = srv.Shutdown()
		case <-done:
		}
	}()
	if err := srv.Serve(ln); err != nil && ctx.Err() == nil {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}

// Handler answers one HTTP request of the Streamable HTTP transport.
func Handler(rc *fasthttp.RequestCtx) {
	switch {
	case rc.IsPost():
	case rc.IsDelete():
		return // sessions live nowhere, so ending one is a no-op
	default:
		rc.Response.Header.Set("Allow", "POST, DELETE")
		rc.Error("the echo server has no standalone stream", fasthttp.StatusMethodNotAllowed)
		return
	}
	frame := rc.PostBody()
	var env jsonrpc.Envelope
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	out := (*bp)[:0]
	switch err := jsonrpc.Decode(frame, &env); {
	case errors.Is(err, jsonrpc.ErrBatch):
		rc.SetStatusCode(fasthttp.StatusBadRequest)
		out = jsonrpc.AppendError(out, nil, jsonrpc.CodeInvalidRequest, "the echo server takes no batches")
	case err != nil:
		rc.SetStatusCode(fasthttp.StatusBadRequest)
		out = jsonrpc.AppendError(out, nil, jsonrpc.CodeParseError, err.Error())
	case env.Kind != jsonrpc.KindRequest: // a notification, or a response to us
		rc.SetStatusCode(fasthttp.StatusAccepted)
		return
	default:
		out = respond(rc, frame, &env, out)
	}
	rc.SetContentType("application/json")
	rc.SetBody(out)
	*bp = out
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Versions the server answers initialize with; an unknown request gets the
// newest of them. server/discover adds the stateless one.
var legacyVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

const (
	serverInfo   = `{"name":"portcullis-bench-echo","version":"1"}`
	capabilities = `{"tools":{},"resources":{},"prompts":{}}`
	toolList     = `{"tools":[{"name":"echo","description":"Returns its arguments as JSON text.",` +
		`"inputSchema":{"type":"object","properties":{"message":{"type":"string"}}}}]}`
	resourceList = `{"resources":[{"uri":"echo://hello","name":"hello","mimeType":"text/plain"}]}`
	promptList   = `{"prompts":[{"name":"echo","description":"Returns its arguments as a user message.",` +
		`"arguments":[{"name":"message","required":false}]}]}`
	discoverResult = `{"supportedVersions":["2026-07-28","2025-11-25","2025-06-18","2025-03-26","2024-11-05"],` +
		`"capabilities":` + capabilities + `,"_meta":{"io.modelcontextprotocol/serverInfo":` + serverInfo + `}}`
)

// respond appends the response to the request in env to dst.
func respond(rc *fasthttp.RequestCtx, frame []byte, env *jsonrpc.Envelope, dst []byte) []byte {
	id := env.ID.In(frame)
	name := env.Name.In(frame)
	switch string(env.Method) {
	case "tools/call":
		if string(name) != `"echo"` {
			return jsonrpc.AppendError(dst, id, jsonrpc.CodeInvalidParams, "unknown tool: the echo server has only echo")
		}
		dst = append(openResult(dst, id), `{"content":[{"type":"text","text":`...)
		return append(appendArguments(dst, frame, env), `}]}}`...)
	case "prompts/get":
		if string(name) != `"echo"` {
			return jsonrpc.AppendError(dst, id, jsonrpc.CodeInvalidParams, "unknown prompt: the echo server has only echo")
		}
		dst = append(openResult(dst, id), `{"messages":[{"role":"user","content":{"type":"text","text":`...)
		return append(appendArguments(dst, frame, env), `}}]}}`...)
	case "resources/read":
		if !env.URI.Present() {
			return jsonrpc.AppendError(dst, id, jsonrpc.CodeInvalidParams, "resources/read needs a uri")
		}
		uri := env.URI.In(frame)
		dst = append(append(openResult(dst, id), `{"contents":[{"uri":`...), uri...)
		dst = append(append(dst, `,"mimeType":"text/plain","text":`...), uri...)
		return append(dst, `}]}}`...)
	case "tools/list":
		return jsonrpc.AppendResult(dst, id, []byte(toolList))
	case "resources/list":
		return jsonrpc.AppendResult(dst, id, []byte(resourceList))
	case "prompts/list":
		return jsonrpc.AppendResult(dst, id, []byte(promptList))
	case "ping":
		return jsonrpc.AppendResult(dst, id, []byte(`{}`))
	case "initialize":
		rc.Response.Header.Set("Mcp-Session-Id", newSessionID())
		version := legacyVersions[0]
		if v, ok := jsonrpc.Member(frame, env.Params, "protocolVersion"); ok {
			if asked := strings.Trim(string(v.In(frame)), `"`); slices.Contains(legacyVersions, asked) {
				version = asked
			}
		}
		return jsonrpc.AppendResult(dst, id, fmt.Appendf(nil, `{"protocolVersion":%q,"capabilities":%s,"serverInfo":%s}`,
			version, capabilities, serverInfo))
	case "server/discover":
		return jsonrpc.AppendResult(dst, id, []byte(discoverResult))
	default:
		return jsonrpc.AppendError(dst, id, jsonrpc.CodeMethodNotFound, "method not found")
	}
}

// openResult appends a response up to the start of its result; the caller
// closes it with one more brace.
func openResult(dst, id []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","id":`...)
	dst = append(dst, id...)
	return append(dst, `,"result":`...)
}

// appendArguments appends the request's arguments object, or {}, as a JSON
// string: the echo of tools/call and prompts/get.
func appendArguments(dst, frame []byte, env *jsonrpc.Envelope) []byte {
	if !env.Arguments.Present() {
		return append(dst, `"{}"`...)
	}
	return jsonrpc.AppendQuote(dst, string(env.Arguments.In(frame)))
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}
