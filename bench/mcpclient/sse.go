package mcpclient

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// maxEventSize bounds one server-sent event so that a server streaming
// endless data without a blank line cannot exhaust memory.
const maxEventSize = 16 << 20

var errEventTooLarge = errors.New("server-sent event larger than 16 MiB")

// eventReader parses a text/event-stream body. The slices it returns stay
// valid until the next call to next.
type eventReader struct {
	br    *bufio.Reader
	event []byte
	data  []byte
	line  []byte
}

// next returns the type and data of the next event that carries data.
// It returns io.EOF when the stream ends cleanly between events and
// io.ErrUnexpectedEOF when it ends inside one.
func (r *eventReader) next() (event, data []byte, err error) {
	r.event, r.data = r.event[:0], r.data[:0]
	hasData := false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && hasData {
				return nil, nil, io.ErrUnexpectedEOF
			}
			return nil, nil, err
		}
		if len(line) == 0 {
			if hasData {
				return r.event, r.data, nil
			}
			r.event = r.event[:0]
			continue
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(name) {
		case "": // comment line
		case "event":
			r.event = append(r.event[:0], value...)
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			hasData = true
			if len(r.data)+len(value) > maxEventSize {
				return nil, nil, errEventTooLarge
			}
			r.data = append(r.data, value...)
		}
	}
}

// readLine returns one line without its terminator, joining lines longer
// than the reader's buffer.
func (r *eventReader) readLine() ([]byte, error) {
	line, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.line = append(r.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			if len(r.line) > maxEventSize {
				return nil, errEventTooLarge
			}
			line, err = r.br.ReadSlice('\n')
			r.line = append(r.line, line...)
		}
		line = r.line
	}
	if err != nil {
		if len(line) > 0 && errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}
