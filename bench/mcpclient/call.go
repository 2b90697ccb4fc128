package mcpclient

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Call is a request encoded once and sent many times: only the id changes.
type Call struct {
	Method string
	// name is the tool or prompt name or the resource URI, sent as the
	// Mcp-Name header from protocol 2026-07-28 on.
	name string
	head []byte // up to and including `"id":`, or the whole prefix of a notification
	tail []byte // from the method to the closing brace
	// notification calls carry no id and get no answer.
	notification bool
}

// Compile encodes a request for this endpoint. For tools/call and
// prompts/get, name is the tool or prompt and args its arguments object; for
// resources/read, name is the URI. Other methods get empty params. On a
// stateless endpoint the params carry the _meta fields that replace
// initialize.
func (e *Endpoint) Compile(method, name string, args json.RawMessage) (*Call, error) {
	params, err := buildParams(method, name, args)
	if err != nil {
		return nil, err
	}
	if e.Stateless() {
		params = withMeta(params, e.version)
	}
	return newCall(method, name, params, false), nil
}

func newCall(method, name string, params []byte, notification bool) *Call {
	head := []byte(`{"jsonrpc":"2.0","id":`)
	if notification {
		head = []byte(`{"jsonrpc":"2.0"`)
	}
	tail := append([]byte(`,"method":`), jsonString(method)...)
	if params != nil {
		tail = append(append(tail, `,"params":`...), params...)
	}
	tail = append(tail, '}')
	return &Call{Method: method, name: name, head: head, tail: tail, notification: notification}
}

func buildParams(method, name string, args json.RawMessage) ([]byte, error) {
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(args, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("mcpclient: arguments must be a json object: %s", args)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, args); err != nil {
		return nil, fmt.Errorf("mcpclient: arguments: %w", err)
	}
	switch method {
	case "tools/call", "prompts/get":
		if name == "" {
			return nil, fmt.Errorf("mcpclient: %s needs a name", method)
		}
		return fmt.Appendf(nil, `{"name":%s,"arguments":%s}`, jsonString(name), compact.Bytes()), nil
	case "resources/read":
		if name == "" {
			return nil, fmt.Errorf("mcpclient: resources/read needs a uri")
		}
		return fmt.Appendf(nil, `{"uri":%s}`, jsonString(name)), nil
	default:
		return []byte(`{}`), nil
	}
}

// withMeta adds the per-request _meta fields of protocol 2026-07-28 as the
// first member of the params object.
func withMeta(params []byte, version string) []byte {
	meta := fmt.Appendf(nil, `{"_meta":{"io.modelcontextprotocol/protocolVersion":%s,`+
		`"io.modelcontextprotocol/clientInfo":{"name":%q,"version":"1"},`+
		`"io.modelcontextprotocol/clientCapabilities":{}}`, jsonString(version), clientName)
	rest := bytes.TrimSpace(params[1:])
	if len(rest) > 0 && rest[0] != '}' {
		meta = append(meta, ',')
	}
	return append(meta, rest...)
}

// jsonString encodes s as a JSON string.
func jsonString(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// appendBody writes the call with the given id into dst.
func (c *Call) appendBody(dst []byte, id []byte) []byte {
	dst = append(dst, c.head...)
	if !c.notification {
		dst = append(dst, id...)
	}
	return append(dst, c.tail...)
}
