// Package jsonrpc reads and rewrites JSON-RPC 2.0 frames as bytes. The gateway routes on a few
// fields (method, id, the tool or prompt name, the resource URI, the progress token) and forwards
// everything else untouched, so Decode records where those fields are instead of decoding the
// frame into Go values: tool arguments are validated as JSON but never materialised.
package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
)

// Kind says what a frame is.
type Kind uint8

const (
	KindInvalid Kind = iota
	KindRequest
	KindNotification
	KindResponse
)

func (k Kind) String() string {
	switch k {
	case KindRequest:
		return "request"
	case KindNotification:
		return "notification"
	case KindResponse:
		return "response"
	}
	return "invalid"
}

// Span is a half-open byte range [Start, End) into the frame that was decoded. The zero Span means
// the field was absent.
type Span struct{ Start, End int }

// Present reports whether the field was in the frame.
func (s Span) Present() bool { return s.End > s.Start }

// In returns the bytes of the span within frame.
func (s Span) In(frame []byte) []byte { return frame[s.Start:s.End] }

// Envelope holds where the routing fields of one frame are. Spans of string fields include the
// quotes, so that splicing a replacement keeps the frame valid.
type Envelope struct {
	Kind   Kind
	Method []byte // the method name, unescaped only when it had no escapes (methods never do)
	ID     Span   // the raw id value: a string, a number or null
	Params Span   // the whole params value
	Result Span
	Error  Span

	Name          Span // params.name (tools/call, prompts/get), or params.ref.name (completion/complete)
	URI           Span // params.uri (resources/*), or params.ref.uri (completion/complete)
	Cursor        Span // params.cursor
	ProgressToken Span // params._meta.progressToken
	TraceParent   Span // params._meta.traceparent
	RequestID     Span // params.requestId (notifications/cancelled)
	Arguments     Span // params.arguments, kept raw
}

// Errors returned by Decode; the front end maps them to JSON-RPC codes.
var (
	ErrParse   = errors.New("parse error")
	ErrInvalid = errors.New("invalid request")
	ErrBatch   = errors.New("batch")
)

// Standard JSON-RPC error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// Decode fills env from frame. It validates the whole frame as JSON (ErrParse when it is not),
// checks the JSON-RPC 2.0 shape (ErrInvalid, wrapped with the reason), and returns ErrBatch for a
// top-level array so the caller can split it. It does not allocate on success and keeps
// references into frame, which must not change while env is used.
func Decode(frame []byte, env *Envelope) error {
	*env = Envelope{}
	i := skipSpace(frame, 0)
	if i >= len(frame) {
		return ErrParse
	}
	if frame[i] != '{' {
		end, err := skipValue(frame, i, 0)
		if err != nil || skipSpace(frame, end) != len(frame) {
			return ErrParse
		}
		if frame[i] == '[' {
			return ErrBatch
		}
		return fmt.Errorf("%w: a frame must be an object", ErrInvalid)
	}
	var version, method Span
	var invalid bool
	end, err := eachMember(frame, i, 1, func(key []byte, s, e int) error {
		switch string(key) {
		case "jsonrpc":
			return set(&version, s, e)
		case "method":
			return set(&method, s, e)
		case "id":
			return set(&env.ID, s, e)
		case "params":
			return set(&env.Params, s, e)
		case "result":
			return set(&env.Result, s, e)
		case "error":
			return set(&env.Error, s, e)
		}
		return nil
	})
	if errors.Is(err, errDuplicate) {
		*env = Envelope{}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err != nil || skipSpace(frame, end) != len(frame) {
		*env = Envelope{}
		return ErrParse
	}
	if string(version.In(frame)) != `"2.0"` {
		return fmt.Errorf("%w: jsonrpc must be \"2.0\"", ErrInvalid)
	}
	if env.ID.Present() {
		switch frame[env.ID.Start] {
		case '"', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		default:
			invalid = true
		}
		if invalid {
			return fmt.Errorf("%w: id must be a string or a number", ErrInvalid)
		}
	}
	switch {
	case method.Present():
		if frame[method.Start] != '"' || bytes.IndexByte(method.In(frame), '\\') >= 0 || method.End-method.Start < 3 {
			return fmt.Errorf("%w: method must be a non-empty string", ErrInvalid)
		}
		env.Method = frame[method.Start+1 : method.End-1]
		if env.Result.Present() || env.Error.Present() {
			return fmt.Errorf("%w: a request carries no result or error", ErrInvalid)
		}
		if env.ID.Present() {
			if frame[env.ID.Start] == 'n' {
				return fmt.Errorf("%w: a request id must not be null", ErrInvalid)
			}
			env.Kind = KindRequest
		} else {
			env.Kind = KindNotification
		}
		if env.Params.Present() {
			switch frame[env.Params.Start] {
			case '{':
				if err := env.decodeParams(frame); err != nil {
					return fmt.Errorf("%w: params: %v", ErrInvalid, err)
				}
				return nil
			case '[':
			default:
				return fmt.Errorf("%w: params must be an object or an array", ErrInvalid)
			}
		}
	case env.ID.Present() && env.Result.Present() != env.Error.Present():
		env.Kind = KindResponse
	default:
		return fmt.Errorf("%w: neither a request nor a response", ErrInvalid)
	}
	return nil
}

func (env *Envelope) decodeParams(frame []byte) error {
	_, err := eachMember(frame, env.Params.Start, 2, func(key []byte, s, e int) error {
		switch string(key) {
		case "name":
			return set(&env.Name, s, e)
		case "uri":
			return set(&env.URI, s, e)
		case "cursor":
			return set(&env.Cursor, s, e)
		case "requestId":
			return set(&env.RequestID, s, e)
		case "arguments":
			return set(&env.Arguments, s, e)
		case "_meta":
			return pick(frame, s, [2]string{"progressToken", "traceparent"}, [2]*Span{&env.ProgressToken, &env.TraceParent})
		case "ref":
			return pick(frame, s, [2]string{"name", "uri"}, [2]*Span{&env.Name, &env.URI})
		}
		return nil
	})
	return err
}

// pick records where the members named keys are in the object at s (a value that is not an
// object has none).
func pick(frame []byte, s int, keys [2]string, dst [2]*Span) error {
	if frame[s] != '{' {
		return nil
	}
	_, err := eachMember(frame, s, 3, func(k []byte, s, e int) error {
		for i, key := range keys {
			if string(k) == key {
				return set(dst[i], s, e)
			}
		}
		return nil
	})
	return err
}

// errDuplicate refuses a frame that names a routing field twice: parsers disagree on which copy
// wins, so a gateway that routed on one while the server acted on the other could be fooled
// (params.name "safe" for policy, "delete_all" for the server).
var errDuplicate = errors.New("a routing field appears twice")

func set(f *Span, s, e int) error {
	if f.Present() {
		return errDuplicate
	}
	*f = Span{s, e}
	return nil
}

// MethodIs reports whether the frame's method is m, without allocating.
func (env *Envelope) MethodIs(m string) bool { return string(env.Method) == m }

// Member returns the span of the value of key in the object at obj within frame. frame must have
// been validated by Decode.
func Member(frame []byte, obj Span, key string) (Span, bool) {
	if !obj.Present() || frame[obj.Start] != '{' {
		return Span{}, false
	}
	var found Span
	_, err := eachMember(frame[:obj.End], obj.Start, 1, func(k []byte, s, e int) error {
		if string(k) == key {
			found = Span{s, e}
		}
		return nil
	})
	return found, err == nil && found.Present()
}

// Elements returns the spans of the elements of the top-level array in frame (a batch). frame
// must have been validated by Decode (which returned ErrBatch).
func Elements(frame []byte) []Span {
	var out []Span
	i := skipSpace(frame, 0)
	if i >= len(frame) || frame[i] != '[' {
		return nil
	}
	i = skipSpace(frame, i+1)
	for i < len(frame) && frame[i] != ']' {
		end, err := skipValue(frame, i, 1)
		if err != nil {
			return nil
		}
		out = append(out, Span{i, end})
		i = skipSpace(frame, end)
		if i < len(frame) && frame[i] == ',' {
			i = skipSpace(frame, i+1)
		}
	}
	return out
}
