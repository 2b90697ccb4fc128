package mcpclient

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestEventReader(t *testing.T) {
	long := strings.Repeat("x", 100) // longer than the 16-byte buffer below
	stream := ": comment\r\n" +
		"event: endpoint\r\ndata: /post?id=1\r\n\r\n" +
		"id: 7\ndata: first\ndata:second\n\n" +
		"\n\n" + // blank lines alone dispatch nothing
		"data: " + long + "\n\n" +
		"event: message\ndata: {\"jsonrpc\":"
	r := &eventReader{br: bufio.NewReaderSize(strings.NewReader(stream), 16)}
	for _, want := range []struct{ event, data string }{
		{"endpoint", "/post?id=1"},
		{"", "first\nsecond"},
		{"", long},
	} {
		event, data, err := r.next()
		if err != nil || string(event) != want.event || string(data) != want.data {
			t.Fatalf("next() = %q, %q, %v; want %q, %q", event, data, err, want.event, want.data)
		}
	}
	if _, _, err := r.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("stream cut inside an event: %v, want unexpected EOF", err)
	}

	r = &eventReader{br: bufio.NewReader(strings.NewReader("data: x\n\n"))}
	_, _, _ = r.next()
	if _, _, err := r.next(); !errors.Is(err, io.EOF) {
		t.Errorf("clean end: %v, want EOF", err)
	}
}
