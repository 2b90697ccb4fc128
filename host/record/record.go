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
}

// NewQueue starts the writer. db may be nil, in which case records are not stored. sink, when
// not nil, receives each record as JSON after it is written (the audit-sink plugins).
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

func (q *Queue) run() {
	defer q.wg.Done()
	batch := make([]Record, 0, 256)
	for r := range q.ch {
		batch = append(batch[:0], r)
		// Take whatever else is already waiting, so one write covers a burst.
	more:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-q.ch:
				if !ok {
					break more
				}
				batch = append(batch, r)
			default:
				break more
			}
		}
		q.write(batch)
	}
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
