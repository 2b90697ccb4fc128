package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReader_Next(t *testing.T) {
	stream := ": keep-alive\n\nevent: endpoint\ndata: /messages?sessionId=1\n\nid: 7\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nretry: 10\n\ndata:{\"b\":2}\n\n"
	r := NewReader(strings.NewReader(stream), 1<<20)
	want := []Event{
		{Name: "endpoint", Data: []byte("/messages?sessionId=1")},
		{Name: "message", ID: []byte("7"), Data: []byte("{\"a\":\n1}")},
		{Name: "message", Data: []byte(`{"b":2}`)},
	}
	for i, w := range want {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.Name != w.Name || string(ev.ID) != string(w.ID) || string(ev.Data) != string(w.Data) {
			t.Fatalf("event %d = %q/%q/%q, want %q/%q/%q", i, ev.Name, ev.ID, ev.Data, w.Name, w.ID, w.Data)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end = %v, want EOF", err)
	}
}

func TestReader_Errors(t *testing.T) {
	if _, err := NewReader(strings.NewReader("data: {\"partial\""), 1<<20).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := NewReader(strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 10).Next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
}

func TestAppendEvent_RoundTrip(t *testing.T) {
	b := AppendEvent(nil, "message", "3", []byte("{\n\"x\": 1\n}"))
	ev, err := NewReader(strings.NewReader(string(b)), 1<<20).Next()
	if err != nil || string(ev.Data) != "{\n\"x\": 1\n}" || string(ev.ID) != "3" {
		t.Fatalf("round trip: %q %v", ev.Data, err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("event: e\ndata: x\n\n")
	f.Add("data: a\r\ndata: b\r\n\r\n: c\n")
	f.Fuzz(func(t *testing.T, s string) {
		r := NewReader(strings.NewReader(s), 4096)
		for range 1000 {
			if _, err := r.Next(); err != nil {
				return
			}
		}
	})
}
