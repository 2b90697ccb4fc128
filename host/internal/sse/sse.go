// Package sse reads and writes Server-Sent Events as MCP uses them: a JSON-RPC frame per event's
// data, an optional event name ("message", or "endpoint" on the 2024-11-05 transport) and id.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Event is one dispatched event. Its slices are valid until the next call to Reader.Next.
type Event struct {
	Name string // "message" when the stream did not name it
	ID   []byte
	Data []byte
}

// ErrTooLarge is returned when an event's data exceeds the reader's limit.
var ErrTooLarge = errors.New("sse: event too large")

// Reader parses an event stream.
type Reader struct {
	r     *bufio.Reader
	limit int
	data  []byte
	id    []byte
	name  []byte
	line  []byte
}

// NewReader returns a Reader over r that refuses events with more than limit bytes of data.
func NewReader(r io.Reader, limit int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 16<<10), limit: limit}
}

// Next returns the next event with data. Comments, retry fields and events without data are
// skipped. It returns io.EOF at a clean end of stream, io.ErrUnexpectedEOF when the stream ends
// inside an event, and ErrTooLarge past the limit.
func (r *Reader) Next() (Event, error) {
	r.data, r.id, r.name = r.data[:0], r.id[:0], r.name[:0]
	pending := false
	for {
		line, err := r.readLine()
		if err != nil {
			if err == io.EOF && pending {
				return Event{}, io.ErrUnexpectedEOF
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if len(r.data) > 0 {
				// The spec drops the final newline joining data lines.
				ev := Event{Name: "message", ID: r.id, Data: r.data[:len(r.data)-1]}
				if len(r.name) > 0 {
					ev.Name = string(r.name)
				}
				return ev, nil
			}
			r.data, r.id, r.name, pending = r.data[:0], r.id[:0], r.name[:0], false
			continue
		}
		if line[0] == ':' {
			continue
		}
		pending = true
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if len(r.data)+len(value) > r.limit {
				return Event{}, fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, r.limit)
			}
			r.data = append(append(r.data, value...), '\n')
		case "event":
			r.name = append(r.name[:0], value...)
		case "id":
			r.id = append(r.id[:0], value...)
		}
	}
}

// readLine returns one line without its terminator (LF, CRLF or CR per the spec; a lone CR is
// treated as LF only when followed by a non-LF, which MCP servers never send, so CR is trimmed).
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		chunk, err := r.r.ReadSlice('\n')
		if len(r.line)+len(chunk) > r.limit+64 {
			return nil, fmt.Errorf("%w (limit %d bytes)", ErrTooLarge, r.limit)
		}
		r.line = append(r.line, chunk...)
		if err == nil {
			break
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(r.line) > 0 {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line := r.line[:len(r.line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// AppendEvent appends one event carrying data (a single-line JSON frame) to dst. name and id are
// omitted when empty.
func AppendEvent(dst []byte, name, id string, data []byte) []byte {
	if name != "" {
		dst = append(append(append(dst, "event: "...), name...), '\n')
	}
	if id != "" {
		dst = append(append(append(dst, "id: "...), id...), '\n')
	}
	// A frame with newlines (pretty-printed JSON) becomes several data lines.
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		dst = append(append(append(dst, "data: "...), bytes.TrimSuffix(data[:i], []byte("\r"))...), '\n')
		data = data[i+1:]
	}
	dst = append(append(append(dst, "data: "...), data...), '\n')
	return append(dst, '\n')
}
