package pipeline

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestHolder_SwapWaitsForRelease(t *testing.T) {
	var h Holder
	drained := make(chan struct{})
	first := &Snapshot{Version: 1, Drained: func() { close(drained) }}
	h.Swap(first)
	held := h.Acquire()
	h.Swap(&Snapshot{Version: 2})
	select {
	case <-drained:
		t.Fatal("drained while a request held it")
	default:
	}
	if h.Acquire().Version != 2 {
		t.Fatal("new requests must get the new snapshot")
	}
	held.Release()
	<-drained
	<-first.Done()
}

// Requests acquire and release while snapshots are swapped: each retired snapshot drains exactly
// once, and never while a request still holds it.
func TestHolder_ConcurrentSwaps(t *testing.T) {
	var h Holder
	const swaps = 200
	type state struct {
		users   atomic.Int64
		drained atomic.Int64
	}
	states := make([]*state, swaps+1)
	mk := func(v int) *Snapshot {
		st := &state{}
		states[v] = st
		return &Snapshot{Version: uint64(v), Drained: func() {
			if st.users.Load() != 0 {
				t.Errorf("snapshot %d drained with %d users", v, st.users.Load())
			}
			st.drained.Add(1)
		}}
	}
	h.Swap(mk(0))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := h.Acquire()
				states[s.Version].users.Add(1)
				states[s.Version].users.Add(-1)
				s.Release()
			}
		}()
	}
	var done []<-chan struct{}
	for v := 1; v <= swaps; v++ {
		done = append(done, h.Swap(mk(v)).Done())
	}
	close(stop)
	wg.Wait()
	for _, d := range done {
		<-d
	}
	for v := range swaps {
		if n := states[v].drained.Load(); n != 1 {
			t.Errorf("snapshot %d drained %d times", v, n)
		}
	}
}
