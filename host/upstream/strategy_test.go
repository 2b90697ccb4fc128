package upstream

import (
	"testing"

	"github.com/portcullis-mcp/portcullis/host/config"
)

func replicas(weights ...int) []*Replica {
	var rs []*Replica
	for i, w := range weights {
		rs = append(rs, &Replica{Index: i, Spec: config.Replica{Weight: w}})
	}
	return rs
}

func TestStrategy_Pick(t *testing.T) {
	t.Run("round robin", func(t *testing.T) {
		rs, s, got := replicas(1, 1, 1), NewStrategy("round_robin"), map[int]int{}
		for range 9 {
			got[s.Pick(rs)]++
		}
		if got[0] != 3 || got[1] != 3 || got[2] != 3 {
			t.Fatalf("spread %v", got)
		}
	})
	t.Run("weighted is smooth", func(t *testing.T) {
		rs, s := replicas(3, 1), NewStrategy("weighted")
		var seq []int
		for range 8 {
			seq = append(seq, s.Pick(rs))
		}
		count := map[int]int{}
		for _, i := range seq {
			count[i]++
		}
		if count[0] != 6 || count[1] != 2 {
			t.Fatalf("weights 3:1 gave %v (%v)", count, seq)
		}
		if seq[0] == seq[1] && seq[1] == seq[2] && seq[2] == seq[3] {
			t.Fatalf("weighted picks come in bursts: %v", seq)
		}
	})
	t.Run("least in flight", func(t *testing.T) {
		rs, s := replicas(1, 1, 1), NewStrategy("least_inflight")
		rs[0].inflight.Store(5)
		rs[1].inflight.Store(1)
		rs[2].inflight.Store(3)
		for range 5 {
			if i := s.Pick(rs); i != 1 {
				t.Fatalf("picked %d with in-flight 5,1,3", i)
			}
		}
	})
}
