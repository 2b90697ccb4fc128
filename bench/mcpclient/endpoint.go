// Package mcpclient speaks just enough MCP over HTTP to put load on a server:
// it opens sessions (Streamable HTTP, legacy HTTP+SSE, or the stateless
// 2026-07-28 protocol) and sends pre-encoded requests, each with its own
// JSON-RPC id, classifying every outcome by Kind.
//
// The hot path uses a fasthttp.HostClient with pooled requests and responses
// and reads only the JSON-RPC envelope of each answer, so the client costs a
// few microseconds of CPU per request.
package mcpclient

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// Transport selects how messages travel.
type Transport string

const (
	// Streamable is the Streamable HTTP transport (protocol 2025-03-26 on).
	Streamable Transport = "streamable"
	// LegacySSE is the HTTP+SSE transport of protocol 2024-11-05: a GET
	// stream carries every answer and requests are POSTed to the URL that the
	// stream's endpoint event names.
	LegacySSE Transport = "sse"
)

// Protocol versions the client knows by name.
const (
	Version20241105 = "2024-11-05"
	Version20251125 = "2025-11-25"
	// VersionStateless is the first version without initialize: each request
	// carries the protocol version and client capabilities in params._meta.
	VersionStateless = "2026-07-28"
)

// DefaultVersion is the protocol version a transport uses unless told.
func DefaultVersion(t Transport) string {
	if t == LegacySSE {
		return Version20241105
	}
	return Version20251125
}

// Header is one extra HTTP header sent with every request.
type Header struct{ Name, Value string }

// Options configures an Endpoint.
type Options struct {
	URL       string
	Transport Transport // Streamable when empty
	// ProtocolVersion is the version to ask for; DefaultVersion when empty.
	// VersionStateless or later skips initialize.
	ProtocolVersion string
	Headers         []Header
	// MaxConns bounds the connections to the host; a request waits for a
	// free one rather than failing.
	MaxConns int
	// Insecure skips TLS certificate verification.
	Insecure bool
}

// Endpoint is one MCP server. It is safe for concurrent use.
type Endpoint struct {
	url       string
	transport Transport
	version   string
	headers   []Header
	hc        *fasthttp.HostClient
	stream    *http.Client // long-lived legacy SSE streams only
}

// clientName identifies the load tool in clientInfo and User-Agent.
const clientName = "portcullis-bench"

// NewEndpoint checks the options and prepares the connection pool.
func NewEndpoint(o Options) (*Endpoint, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("mcpclient: endpoint url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("mcpclient: endpoint url %q: want http:// or https:// with a host", o.URL)
	}
	transport := o.Transport
	if transport == "" {
		transport = Streamable
	}
	if transport != Streamable && transport != LegacySSE {
		return nil, fmt.Errorf("mcpclient: unknown transport %q (want %q or %q)", transport, Streamable, LegacySSE)
	}
	version := o.ProtocolVersion
	if version == "" {
		version = DefaultVersion(transport)
	}
	if transport == LegacySSE && version >= VersionStateless {
		return nil, fmt.Errorf("mcpclient: protocol %s is stateless and has no legacy sse transport", version)
	}
	for _, h := range o.Headers {
		if h.Name == "" || strings.ContainsAny(h.Name, " :\r\n") || strings.ContainsAny(h.Value, "\r\n") {
			return nil, fmt.Errorf("mcpclient: invalid header %q", h.Name)
		}
	}
	tlsConfig := &tls.Config{InsecureSkipVerify: o.Insecure} //nolint:gosec // the operator asked for it
	maxConns := max(o.MaxConns, 1)
	return &Endpoint{
		url:       u.String(),
		transport: transport,
		version:   version,
		headers:   o.Headers,
		hc: &fasthttp.HostClient{
			Addr:                      fasthttp.AddMissingPort(u.Host, u.Scheme == "https"),
			IsTLS:                     u.Scheme == "https",
			TLSConfig:                 tlsConfig,
			Name:                      clientName,
			MaxConns:                  maxConns,
			MaxConnWaitTimeout:        time.Hour, // the request deadline bounds the wait
			MaxIdleConnDuration:       30 * time.Second,
			ReadBufferSize:            16 << 10,
			MaxIdemponentCallAttempts: 1,
		},
		stream: &http.Client{Transport: &http.Transport{
			TLSClientConfig:     tlsConfig,
			MaxIdleConnsPerHost: maxConns,
		}},
	}, nil
}

// URL returns the endpoint's address.
func (e *Endpoint) URL() string { return e.url }

// Version returns the protocol version the endpoint asks for.
func (e *Endpoint) Version() string { return e.version }

// Stateless reports whether requests go without a session.
func (e *Endpoint) Stateless() bool { return e.version >= VersionStateless }

// NewSession returns a session that opens on first use or on Open. A session
// may be used by many goroutines at once; it reopens itself after the
// server forgets it (404) or its stream ends.
func (e *Endpoint) NewSession() Session {
	if e.transport == LegacySSE {
		return &legacySession{e: e}
	}
	return &streamSession{e: e}
}

// CloseIdleConnections releases pooled connections.
func (e *Endpoint) CloseIdleConnections() {
	e.hc.CloseIdleConnections()
	e.stream.CloseIdleConnections()
}

// Session is a logical MCP connection.
type Session interface {
	// Open initializes the session unless it already is; Do opens it too.
	Open(sc *Scratch, deadline time.Time) Outcome
	// Do sends c with a fresh id and waits for its answer until deadline.
	Do(sc *Scratch, c *Call, deadline time.Time) Outcome
	// Close ends the session on the server, best effort.
	Close()
}

// setHeaders writes the headers common to every POST.
func (e *Endpoint) setHeaders(req *fasthttp.Request, target string) {
	req.SetRequestURI(target)
	req.Header.SetMethod(fasthttp.MethodPost)
	req.Header.SetContentType("application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for _, h := range e.headers {
		req.Header.Set(h.Name, h.Value)
	}
}
