package upstream

import (
	"sync"
	"sync/atomic"
)

// Strategy chooses one of the replicas that are up. Implementations are safe for concurrent use;
// routing plugins implement it too.
type Strategy interface {
	Pick(up []*Replica) int
}

// NewStrategy returns the built-in strategy with that name (round_robin when unknown; the config
// is validated before).
func NewStrategy(name string) Strategy {
	switch name {
	case "least_inflight":
		return &leastInFlight{}
	case "weighted":
		return &weighted{}
	}
	return &roundRobin{}
}

type roundRobin struct{ n atomic.Uint64 }

func (s *roundRobin) Pick(up []*Replica) int { return int(s.n.Add(1)-1) % len(up) }

// leastInFlight picks the replica with the fewest calls running, rotating among ties so that an
// idle pool is still spread.
type leastInFlight struct{ n atomic.Uint64 }

func (s *leastInFlight) Pick(up []*Replica) int {
	start := int(s.n.Add(1)-1) % len(up)
	best := start
	for i := range up {
		j := (start + i) % len(up)
		if up[j].InFlight() < up[best].InFlight() {
			best = j
		}
	}
	return best
}

// weighted is smooth weighted round robin: over any window each replica gets its share, without
// bursts to the heaviest one.
type weighted struct {
	mu      sync.Mutex
	current map[*Replica]int
}

func (s *weighted) Pick(up []*Replica) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		s.current = map[*Replica]int{}
	}
	total, best := 0, 0
	for i, r := range up {
		s.current[r] += r.Spec.Weight
		total += r.Spec.Weight
		if s.current[r] > s.current[up[best]] {
			best = i
		}
	}
	s.current[up[best]] -= total
	return best
}
