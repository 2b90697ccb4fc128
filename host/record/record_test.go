package record

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
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

// Enough records of realistic size to go through several memtable flushes and table builds, and
// the value log, added as fast as the writer takes them: none is dropped, and all of them read
// back in order after a reopen.
func TestQueue_SustainedWritesAllReadBackAfterReopen(t *testing.T) {
	n := 60_000
	if testing.Short() {
		n = 10_000
	}
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := store.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	q := NewQueue(db, 1024, log, nil)
	session := strings.Repeat("s", 200) // the gateway's session ids are about this long
	base := time.Now()
	for i := range n {
		for len(q.ch) > cap(q.ch)/2 { // one producer: the queue never fills, so nothing may drop
			time.Sleep(100 * time.Microsecond)
		}
		q.Add(Record{Time: base.Add(time.Duration(i)), Session: session, Agent: "anonymous", Method: "tools/call",
			Server: "echo", Name: "echo", RequestID: strconv.Itoa(i), Latency: time.Duration(i), InBytes: 109, OutBytes: 96})
	}
	q.Close()
	if q.Dropped() != 0 {
		t.Fatalf("%d records dropped", q.Dropped())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = store.Open(dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := Recent(context.Background(), db, n+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("read back %d of %d records", len(got), n)
	}
	for i, r := range got {
		if want := n - 1 - i; r.Latency != time.Duration(want) || r.RequestID != strconv.Itoa(want) || r.Session != session {
			t.Fatalf("record %d from the newest: latency %d, request %q, want %d", i, r.Latency, r.RequestID, want)
		}
	}
}

// While a write stalls, the writer keeps taking records off the queue into its backlog; only when
// both are full are records dropped, and everything taken is written in order once the write ends.
func TestQueue_StalledWriteFillsBacklogBeforeDropping(t *testing.T) {
	const size = 16
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var got []int
	q := NewQueue(nil, size, slog.New(slog.NewTextHandler(io.Discard, nil)), func(rec []byte) {
		var r Record
		if err := json.Unmarshal(rec, &r); err != nil {
			t.Error(err)
		}
		mu.Lock()
		got = append(got, r.InBytes)
		first := len(got) == 1
		mu.Unlock()
		if first {
			close(entered)
			<-release // the first write stalls
		}
	})
	add := func(i int) { q.Add(Record{Method: "tools/call", InBytes: i}) }
	waitDrained := func() {
		deadline := time.Now().Add(10 * time.Second)
		for len(q.ch) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the writer took nothing off the queue for 10 s (%d waiting)", len(q.ch))
			}
			time.Sleep(time.Millisecond)
		}
	}

	add(0)
	<-entered
	backlog := backlogBatches(size) * maxBatch
	if backlog < 3*size {
		t.Fatalf("backlog of %d records for a queue of %d", backlog, size)
	}
	for i := 1; i <= backlog; i++ {
		add(i)
		waitDrained()
	}
	for i := backlog + 1; i <= backlog+size; i++ {
		add(i) // the backlog is full: these stay in the queue
	}
	if q.Dropped() != 0 {
		t.Fatalf("%d records dropped before the queue was full", q.Dropped())
	}
	add(-1)
	if q.Dropped() != 1 {
		t.Fatalf("dropped = %d with the backlog and the queue full, want 1", q.Dropped())
	}

	close(release)
	q.Close()
	if want := backlog + size + 1; len(got) != want {
		t.Fatalf("wrote %d records, want %d", len(got), want)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("record %d written as number %d: out of order", i, v)
		}
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
