package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// exactQuantile is the nearest-rank quantile of sorted data, the definition
// Quantile approximates.
func exactQuantile(sorted []int64, q float64) int64 {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestHistogram_QuantileAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		gen  func() int64
	}{
		{"lognormal latencies", func() int64 { return int64(math.Exp(rng.NormFloat64()*1.5 + 12)) }},
		{"uniform 0..1e6", func() int64 { return rng.Int64N(1_000_000) }},
		{"bimodal", func() int64 {
			if rng.IntN(10) == 0 {
				return 50_000_000 + rng.Int64N(1000)
			}
			return 80_000 + rng.Int64N(5000)
		}},
		{"tiny exact values", func() int64 { return rng.Int64N(400) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			data := make([]int64, 100_000)
			var sum float64
			for i := range data {
				data[i] = tt.gen()
				sum += float64(data[i])
				h.Record(data[i])
			}
			slices.Sort(data)
			for _, q := range []float64{0, 0.001, 0.5, 0.9, 0.99, 0.999, 0.9999, 1} {
				want := exactQuantile(data, q)
				got := h.Quantile(q)
				if diff := math.Abs(float64(got - want)); diff > float64(want)/512+0.5 {
					t.Errorf("Quantile(%v) = %d, want %d within 1/512", q, got, want)
				}
			}
			if h.Min() != data[0] || h.Max() != data[len(data)-1] {
				t.Errorf("min/max = %d/%d, want %d/%d", h.Min(), h.Max(), data[0], data[len(data)-1])
			}
			if h.Count() != uint64(len(data)) {
				t.Errorf("Count = %d, want %d", h.Count(), len(data))
			}
			if mean := sum / float64(len(data)); math.Abs(h.Mean()-mean) > 1e-6*mean {
				t.Errorf("Mean = %v, want %v", h.Mean(), mean)
			}
		})
	}
}

func TestHistogram_BucketsCoverEveryValue(t *testing.T) {
	values := []uint64{0, 1, 255, 256, 511, 512, 513, 1023, 1024, 1 << 20, 1<<20 + 12345, 1<<40 - 1, 1 << 62, math.MaxInt64}
	for _, v := range values {
		lo, width := bounds(bucketOf(v))
		if v < lo || v > lo+width-1 {
			t.Errorf("value %d mapped to bucket [%d, %d]", v, lo, lo+width-1)
		}
		if width > 1 && float64(width) > float64(lo)/256 {
			t.Errorf("bucket of %d is %d wide from %d: coarser than 1/256", v, width, lo)
		}
	}
	// Consecutive buckets tile the number line without gaps.
	for i := 1; i < 40*subCount; i++ {
		plo, pw := bounds(i - 1)
		lo, _ := bounds(i)
		if plo+pw != lo {
			t.Fatalf("gap between bucket %d (ends %d) and %d (starts %d)", i-1, plo+pw-1, i, lo)
		}
	}
}

func TestHistogram_Merge(t *testing.T) {
	var a, b, all Histogram
	for v := range int64(10_000) {
		x := v * v
		all.Record(x)
		if v%3 == 0 {
			a.Record(x)
		} else {
			b.Record(x)
		}
	}
	a.Merge(&b)
	for _, q := range []float64{0.1, 0.5, 0.99, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %d, want %d", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Errorf("merged summary differs: %d %d %d %v vs %d %d %d %v",
			a.Count(), a.Min(), a.Max(), a.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
}

func TestHistogram_EmptyAndNegative(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatal("empty histogram reports values")
	}
	h.Record(-5)
	if h.Count() != 1 || h.Max() != 0 || h.Quantile(1) != 0 {
		t.Errorf("negative value not recorded as zero: count %d max %d", h.Count(), h.Max())
	}
	h.Reset()
	if h.Count() != 0 {
		t.Errorf("Reset left %d values", h.Count())
	}
	var n uint64
	h.Record(1000)
	h.Record(1001)
	h.Buckets(func(b Bucket) { n += b.Count })
	if n != 2 {
		t.Errorf("Buckets counted %d values, want 2", n)
	}
}

func BenchmarkHistogram_Record(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := range b.N {
		h.Record(int64(50_000 + i&0xffff))
	}
}
