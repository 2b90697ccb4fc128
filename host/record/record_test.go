package record

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/portcullis-mcp/portcullis/host/store"
)

func TestQueue_WritesAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	q := NewQueue(db, 1024, log, nil)
	base := time.Now()
	for i := range 500 {
		q.Add(Record{Time: base.Add(time.Duration(i)), Method: "tools/call", Server: "s", Name: "t", Latency: time.Duration(i)})
	}
	q.Close() // flushes
	if q.Dropped() != 0 {
		t.Fatalf("%d records dropped", q.Dropped())
	}
	db.Close()

	db, err = store.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := Recent(context.Background(), db, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 500 || got[0].Latency != 499 || got[499].Latency != 0 {
		t.Fatalf("read back %d records, newest latency %v", len(got), got[0].Latency)
	}
}

func TestQueue_FullQueueDropsInsteadOfBlocking(t *testing.T) {
	q := &Queue{ch: make(chan Record, 1)} // no writer: the queue fills at once
	q.Add(Record{})
	done := make(chan struct{})
	go func() { q.Add(Record{}); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Add blocked on a full queue")
	}
	if q.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1", q.Dropped())
	}
}
