package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
)

var (
	errNotJSON      = errors.New("not valid JSON")
	errNotObject    = errors.New("not a JSON object")
	errNoVersion    = errors.New(`"jsonrpc" is not "2.0"`)
	errDuplicateKey = errors.New(`duplicate "jsonrpc" or "id" member`)
	errIDChanged    = errors.New(`"id" differs from the original frame's`)
)

// checkRewrite accepts frame as a replacement for orig when it is a JSON
// object whose "jsonrpc" member is "2.0" and whose "id" member is byte for
// byte the original's (or absent in both): a plugin may redact a frame but
// not turn it into another request or answer another call. Duplicate
// "jsonrpc" or "id" members are refused, since parsers disagree on which
// one wins. It does not allocate.
func checkRewrite(orig, frame []byte) error {
	if !json.Valid(frame) {
		return errNotJSON
	}
	version, id, err := envelope(frame)
	if err != nil {
		return err
	}
	if string(version) != `"2.0"` {
		return errNoVersion
	}
	_, origID, err := envelope(orig)
	if err != nil {
		origID = nil // the original was not JSON-RPC: only an absent id matches
	}
	if !bytes.Equal(id, origID) {
		return errIDChanged
	}
	return nil
}

// envelope returns the raw values of the top-level "jsonrpc" and "id"
// members of a JSON document, nil when absent. It never panics on invalid
// input, but only a valid document gets a meaningful answer. Keys are compared
// unescaped-as-written: a key spelled with escapes is not recognized, which
// makes such a frame fail the checks above rather than slip through.
func envelope(doc []byte) (version, id []byte, err error) {
	i := skipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return nil, nil, errNotObject
	}
	i++
	for {
		i = skipSpace(doc, i)
		if i >= len(doc) || doc[i] == '}' {
			return version, id, nil
		}
		if doc[i] == ',' {
			i = skipSpace(doc, i+1)
		}
		end := skipValue(doc, i) // the key, a string
		key := doc[i:end]
		if i = skipSpace(doc, end); i >= len(doc) || doc[i] != ':' {
			return nil, nil, errNotObject // only reachable for invalid JSON
		}
		i = skipSpace(doc, i+1)
		end = skipValue(doc, i)
		switch string(key) {
		case `"jsonrpc"`:
			if version != nil {
				return nil, nil, errDuplicateKey
			}
			version = doc[i:end]
		case `"id"`:
			if id != nil {
				return nil, nil, errDuplicateKey
			}
			id = doc[i:end]
		}
		i = end
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at i, assuming a
// valid document: only strings and nesting need care.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}
