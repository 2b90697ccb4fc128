// Package record keeps what happened to each MCP request: one Record per request, queued without
// blocking the request path and written to Badger in batches by a background writer.
package record

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Record is one finished MCP request.
type Record struct {
	Time      time.Time     `json:"time"`
	Session   string        `json:"session,omitempty"`
	Agent     string        `json:"agent"`
	Team      string        `json:"team,omitempty"`
	Method    string        `json:"method"`
	Server    string        `json:"server,omitempty"`
	Name      string        `json:"name,omitempty"` // tool or prompt name, or resource URI
	RequestID string        `json:"request_id,omitempty"`
	TraceID   string        `json:"trace_id,omitempty"`
	Latency   time.Duration `json:"latency_ns"`
	Retries   int           `json:"retries,omitempty"`
	Replica   string        `json:"replica,omitempty"`
	Error     string        `json:"error,omitempty"`
	ErrorCode int           `json:"error_code,omitempty"`
	InBytes   int           `json:"in_bytes"`
	OutBytes  int           `json:"out_bytes"`
	Plugins   []string      `json:"plugins,omitempty"` // plugin versions that saw the request
}

// Key prefix of request records in the database; the version lets a later release migrate them.
const prefix = "rec/v1/"

// Queue accepts records from the request path and writes them in batches. Add never blocks: when
// the queue is full the record is counted as dropped, because a slow disk must not slow calls.
type Queue struct {
	db      *badger.DB
	ch      chan Record
	dropped atomic.Int64
	seq     atomic.Uint64
	wg      sync.WaitGroup
	log     *slog.Logger
	sink    func(record []byte)

	// Owned by the storer goroutine: what the last warning about dropped records reported.
	warned   int64
	warnedAt time.Time
}

// dropWarnEvery spaces out the warnings about dropped records, so a sustained overload logs a
// line every few seconds rather than one per batch.
const dropWarnEvery = 10 * time.Second

// NewQueue starts the writer. size records can wait in the queue, and while a write is slow the
// writer holds up to backlogFactor times as many more. db may be nil, in which case records are
// not stored. sink, when not nil, receives each record as JSON after it is written (the
// audit-sink plugins).
func NewQueue(db *badger.DB, size int, log *slog.Logger, sink func(record []byte)) *Queue {
	q := &Queue{db: db, ch: make(chan Record, size), log: log, sink: sink}
	q.wg.Add(1)
	go q.run()
	return q
}

// Add queues r.
func (q *Queue) Add(r Record) {
	select {
	case q.ch <- r:
	default:
		q.dropped.Add(1)
	}
}

// Dropped is the number of records lost to a full queue.
func (q *Queue) Dropped() int64 { return q.dropped.Load() }

// Close flushes what is queued and stops the writer. Add must not be called after Close.
func (q *Queue) Close() {
	close(q.ch)
	q.wg.Wait()
}

// maxBatch is the most records one write to the database covers.
const maxBatch = 256

// backlogFactor sizes the writer's backlog: while a write is slow (the value log's files are
// synced to disk as each one fills, which a busy disk can stretch to hundreds of milliseconds),
// the writer keeps taking records off the queue, up to backlogFactor times the queue's size of
// them, so that a stall fills the backlog rather than the queue. The memory is taken only then.
const backlogFactor = 3

// run takes records off the queue into batches and hands each to the storer as soon as the
// storer is free; batches wait, oldest first, in a bounded backlog meanwhile.
func (q *Queue) run() {
	defer q.wg.Done()
	maxBatches := backlogBatches(cap(q.ch))
	work := make(chan []Record) // unbuffered: a batch leaves when the storer is free
	free := make(chan []Record, 4)
	stored := make(chan struct{})
	go func() {
		defer close(stored)
		for b := range work {
			q.write(b)
			q.warnDropped(false)
			clear(b)
			select {
			case free <- b[:0]: // for reuse; the rest go to the garbage collector
			default:
			}
		}
	}()

	var waiting [][]Record // oldest first; only the last one still grows
	add := func(r Record) {
		if n := len(waiting); n == 0 || len(waiting[n-1]) == maxBatch {
			waiting = append(waiting, newBatch(free))
		}
		last := len(waiting) - 1
		waiting[last] = append(waiting[last], r)
	}
	in := q.ch
	for in != nil || len(waiting) > 0 {
		take := in
		if n := len(waiting); n == maxBatches && len(waiting[n-1]) == maxBatch {
			take = nil // backlog full: what overflows the queue is dropped
		}
		// Take what is already waiting first, so that one write covers a burst.
		if len(take) > 0 {
			add(<-take)
			continue
		}
		var out chan []Record
		var head []Record
		if len(waiting) > 0 {
			out, head = work, waiting[0]
		}
		select {
		case r, ok := <-take:
			if !ok {
				in = nil
				continue
			}
			add(r)
		case out <- head:
			waiting[0] = nil
			waiting = waiting[1:]
		}
	}
	close(work)
	<-stored
	q.warnDropped(true)
}

// backlogBatches is how many batches the writer holds at most for a queue of size records.
func backlogBatches(size int) int { return max(1, (backlogFactor*size+maxBatch-1)/maxBatch) }

// newBatch returns an empty batch, reusing a written one if there is one.
func newBatch(free chan []Record) []Record {
	select {
	case b := <-free:
		return b
	default:
		return make([]Record, 0, maxBatch)
	}
}

// warnDropped logs how many records a full queue has cost since the last warning: the first loss
// at once, then at most once per dropWarnEvery, and whatever is left when the queue closes.
func (q *Queue) warnDropped(final bool) {
	n := q.dropped.Load()
	if n == q.warned || q.log == nil {
		return
	}
	if !final && time.Since(q.warnedAt) < dropWarnEvery {
		return
	}
	q.log.Warn("records dropped: queue full", "dropped", n-q.warned, "total", n)
	q.warned, q.warnedAt = n, time.Now()
}

func (q *Queue) write(batch []Record) {
	if q.db == nil && q.sink == nil {
		return // counted by Add, kept nowhere: no need to encode
	}
	values := make([][]byte, 0, len(batch))
	for _, r := range batch {
		if v, err := json.Marshal(r); err == nil {
			values = append(values, v)
		}
	}
	if q.db != nil {
		q.store(batch, values)
	}
	if q.sink != nil {
		for _, v := range values {
			q.sink(v)
		}
	}
}

func (q *Queue) store(batch []Record, values [][]byte) {
	wb := q.db.NewWriteBatch()
	defer wb.Cancel()
	for i, v := range values {
		if err := wb.Set(q.key(batch[i].Time), v); err != nil {
			q.log.Error("record write", "err", err)
			return
		}
	}
	if err := wb.Flush(); err != nil {
		q.log.Error("record flush", "err", err)
	}
}

// key orders records by time; the sequence number keeps records of the same nanosecond apart.
func (q *Queue) key(t time.Time) []byte {
	k := make([]byte, 0, len(prefix)+16)
	k = append(k, prefix...)
	k = binary.BigEndian.AppendUint64(k, uint64(t.UnixNano()))
	return binary.BigEndian.AppendUint64(k, q.seq.Add(1))
}

// Recent returns up to n records, newest first.
func Recent(ctx context.Context, db *badger.DB, n int) ([]Record, error) {
	var out []Record
	err := db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.Prefix = []byte(prefix)
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := append([]byte(prefix), 0xff)
		for it.Seek(seek); it.Valid() && len(out) < n && ctx.Err() == nil; it.Next() {
			var r Record
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &r) }); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
