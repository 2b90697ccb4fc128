package registry

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Event records one change or refusal, for the operator's audit of the admin plane.
type Event struct {
	Time    time.Time `json:"time"`
	Action  string    `json:"action"` // plugin.upload, plugin.delete, binding.put, binding.delete, binding.reorder, binding.rollback, pipeline.reload, admin.refused
	Plugin  string    `json:"plugin,omitempty"`
	Binding string    `json:"binding,omitempty"`
	OK      bool      `json:"ok"`
	Code    string    `json:"code,omitempty"` // the refusal's code
	Message string    `json:"message,omitempty"`
	Remote  string    `json:"remote,omitempty"` // who asked, when known (admin API)
}

// Record stores an event. It never fails the change it describes: a storage error is logged.
func (r *Registry) Record(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	r.mu.Lock() // sequence numbers keep events of one instant apart and in order
	r.eventSeq++
	seq := r.eventSeq
	r.mu.Unlock()
	r.store(e, seq)
}

// record is Record for callers holding r.mu, with the outcome of err.
func (r *Registry) record(e Event, err error) {
	e.OK = err == nil
	if err != nil {
		e.Code, e.Message = CodeOf(err), err.Error()
		r.log.Warn("registry: refused", "action", e.Action, "plugin", e.Plugin, "binding", e.Binding, "code", e.Code, "err", err)
	} else {
		r.log.Info("registry: "+e.Action, "plugin", e.Plugin, "binding", e.Binding)
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	r.eventSeq++
	r.store(e, r.eventSeq)
}

func (r *Registry) store(e Event, seq uint32) {
	b, _ := json.Marshal(e)
	key := fmt.Sprintf("%s%020d%010d", prefixEvent, e.Time.UnixNano(), seq)
	if err := r.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(key), b) }); err != nil {
		r.log.Error("registry: recording an event failed", "action", e.Action, "err", err)
	}
}

// Events returns the last n events, oldest first.
func (r *Registry) Events(n int) ([]Event, error) {
	var out []Event
	err := r.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixEvent), Reverse: true, PrefetchValues: true})
		defer it.Close()
		for it.Seek([]byte(prefixEvent + "\xff")); it.Valid() && len(out) < n; it.Next() {
			var e Event
			if err := it.Item().Value(func(b []byte) error { return json.Unmarshal(b, &e) }); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("registry: events: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
