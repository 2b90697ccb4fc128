// Package telemetry makes one OpenTelemetry span per MCP request, named and attributed per the
// semantic conventions for MCP, and joins it to the agent's trace: the parent comes from the
// HTTP traceparent header or from params._meta.traceparent.
package telemetry

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys from the OpenTelemetry semantic conventions for MCP.
const (
	MethodName = attribute.Key("mcp.method.name")
	SessionID  = attribute.Key("mcp.session.id")
	ToolName   = attribute.Key("gen_ai.tool.name")
	RequestID  = attribute.Key("jsonrpc.request.id")
	Server     = attribute.Key("portcullis.server")
	Agent      = attribute.Key("portcullis.agent")
)

var (
	propagator = propagation.TraceContext{}
	tracer     = otel.Tracer("portcullis")
	serverKind = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	recording  atomic.Bool
)

// Enable makes Start record spans through the global tracer provider; call it after installing
// an exporting provider with otel.SetTracerProvider. Until then Start only carries the caller's
// trace context on to upstreams, which costs no allocation when there is none.
func Enable() { recording.Store(true) }

// Start begins the span of one request. header and meta are the traceparent values from the HTTP
// header and from params._meta (either may be empty); the header wins when both are present.
func Start(ctx context.Context, method string, header, meta string) (context.Context, trace.Span) {
	tp := header
	if tp == "" {
		tp = meta
	}
	if tp != "" {
		c := carrier(tp)
		ctx = propagator.Extract(ctx, &c)
	}
	if !recording.Load() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return tracer.Start(ctx, method, serverKind...)
}

// Traceparent returns the W3C traceparent of the span in ctx, to pass on to an upstream.
func Traceparent(ctx context.Context) string {
	c := carrier("")
	propagator.Inject(ctx, &c)
	return string(c)
}

// carrier holds a single traceparent value.
type carrier string

func (c carrier) Get(key string) string {
	if key == "traceparent" {
		return string(c)
	}
	return ""
}

func (c *carrier) Set(key, value string) {
	if key == "traceparent" {
		*c = carrier(value)
	}
}

func (c carrier) Keys() []string { return []string{"traceparent"} }
