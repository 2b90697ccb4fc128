package jsonrpc

import (
	"encoding/json"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Edit replaces the bytes of Span with With when a frame is spliced.
type Edit struct {
	Span Span
	With []byte
}

// Splice appends frame to dst with each edit applied. Edits must not overlap; they may come in any
// order. An edit of the zero Span (an absent field) is skipped; an empty span elsewhere inserts.
// It allocates nothing beyond growing dst.
func Splice(dst, frame []byte, edits ...Edit) []byte {
	// Insertion sort: there are at most a handful of edits.
	for i := 1; i < len(edits); i++ {
		for j := i; j > 0 && edits[j].Span.Start < edits[j-1].Span.Start; j-- {
			edits[j], edits[j-1] = edits[j-1], edits[j]
		}
	}
	pos := 0
	for _, e := range edits {
		if e.Span == (Span{}) {
			continue
		}
		dst = append(dst, frame[pos:e.Span.Start]...)
		dst = append(dst, e.With...)
		pos = e.Span.End
	}
	return append(dst, frame[pos:]...)
}

// Unquote returns the value of the JSON string in raw (quotes included). Strings without escapes,
// the common case, are returned as a sub-slice of raw without allocating.
func Unquote(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	inner := raw[1 : len(raw)-1]
	if slices.Index(inner, '\\') < 0 {
		return inner, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

// AppendQuote appends s as a JSON string.
func AppendQuote(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

const hexDigit = "0123456789abcdef"

// AppendError appends a JSON-RPC error response for the request whose raw id is id (null when
// the id is unknown, as for a parse error).
func AppendError(dst, id []byte, code int, message string) []byte {
	if len(id) == 0 {
		id = nullID
	}
	dst = append(dst, `{"jsonrpc":"2.0","id":`...)
	dst = append(dst, id...)
	dst = append(dst, `,"error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = AppendQuote(dst, message)
	return append(dst, "}}"...)
}

// AppendResult appends a JSON-RPC success response carrying the raw result.
func AppendResult(dst, id, result []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","id":`...)
	dst = append(dst, id...)
	dst = append(dst, `,"result":`...)
	dst = append(dst, result...)
	return append(dst, '}')
}

var nullID = []byte("null")

// WithoutMembers returns frame with the members named keys removed from the object at obj
// (frame validated by Decode). It returns frame itself when none is present.
func WithoutMembers(frame []byte, obj Span, keys ...string) []byte {
	if !obj.Present() || frame[obj.Start] != '{' {
		return frame
	}
	var kept [][2]int // spans of "key": value of the members kept
	removed := false
	eachMember(frame[:obj.End], obj.Start, 1, func(key []byte, _, end int) error {
		start := cap(frame) - cap(key) - 1 // the opening quote of the key
		if slices.Contains(keys, string(key)) {
			removed = true
		} else {
			kept = append(kept, [2]int{start, end})
		}
		return nil
	})
	if !removed {
		return frame
	}
	out := append(make([]byte, 0, len(frame)), frame[:obj.Start]...)
	out = append(out, '{')
	for i, k := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, frame[k[0]:k[1]]...)
	}
	out = append(out, '}')
	return append(out, frame[obj.End:]...)
}
