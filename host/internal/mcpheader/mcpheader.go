// Package mcpheader checks the request headers of the 2026-07-28 Streamable HTTP transport
// (Mcp-Method, Mcp-Name) against the JSON-RPC body. Proxies may route on the headers, the
// gateway decides on the body; a request whose two disagree is refused, so that no component can
// be shown "safe" while another acts on "delete_all".
package mcpheader

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/portcullis-mcp/portcullis/host/jsonrpc"
)

// CodeMismatch is the JSON-RPC error code for headers that contradict the body.
const CodeMismatch = -32020

const (
	base64Prefix = "=?base64?"
	base64Suffix = "?="
)

// ErrEncoding is returned for a value wrapped as base64 whose payload is not valid base64.
var ErrEncoding = errors.New("bad base64 header value")

// Decode returns the value a header carries: as written, or, when wrapped as =?base64?...?=
// (used for values that are not plain printable ASCII), the decoded text.
func Decode(v string) (string, error) {
	inner, ok := strings.CutPrefix(v, base64Prefix)
	if !ok {
		return v, nil
	}
	inner, ok = strings.CutSuffix(inner, base64Suffix)
	if !ok {
		return v, nil
	}
	b, err := base64.StdEncoding.DecodeString(inner)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrEncoding, err)
	}
	return string(b), nil
}

// Check compares the Mcp-Method and Mcp-Name header values (empty when absent) with the frame.
// Mcp-Name is the tool or prompt name for tools/call and prompts/get, and the URI for
// resources/read.
func Check(method, name string, frame []byte, env *jsonrpc.Envelope) error {
	if method != "" && method != string(env.Method) {
		return fmt.Errorf("Mcp-Method header %q does not match the body's method %q", method, env.Method)
	}
	if name == "" {
		return nil
	}
	decoded, err := Decode(name)
	if err != nil {
		return fmt.Errorf("Mcp-Name header: %w", err)
	}
	span := env.Name
	if env.MethodIs("resources/read") {
		span = env.URI
	}
	body, ok := jsonrpc.Unquote(span.In(frame))
	if !ok || string(body) != decoded {
		return fmt.Errorf("Mcp-Name header %q does not match the body's %q", decoded, body)
	}
	return nil
}
