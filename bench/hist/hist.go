// Package hist records non-negative integer values, such as latencies in
// nanoseconds, in a log-bucketed histogram in the style of HdrHistogram.
//
// Every power of two is split into 256 equal sub-buckets, so a value read back
// from the histogram is within 1/512 (about 0.2%) of a value that was recorded,
// at any magnitude. The bucket array grows only up to the largest value seen:
// microsecond latencies cost a few kilobytes, and recording never allocates
// once that size is reached.
//
// A Histogram is not safe for concurrent use; callers shard or lock.
package hist

import (
	"math"
	"math/bits"
)

const (
	subBits  = 8
	subCount = 1 << subBits
)

// Histogram counts values in log-linear buckets. The zero value is empty and
// ready to use.
type Histogram struct {
	counts []uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

// bucketOf maps v to its bucket: values below subCount get a bucket each;
// above, the bucket keeps the top subBits+1 significant bits of v.
func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return (shift+1)<<subBits + int(v>>uint(shift)) - subCount
}

// bounds returns the smallest value of bucket i and the bucket's width.
func bounds(i int) (lo, width uint64) {
	if i < 2*subCount {
		return uint64(i), 1
	}
	shift := uint(i>>subBits - 1)
	return uint64(i&(subCount-1)+subCount) << shift, 1 << shift
}

// Record adds one occurrence of v; negative values count as zero.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	i := bucketOf(uint64(v))
	if i >= len(h.counts) {
		h.grow(i)
	}
	h.counts[i]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

func (h *Histogram) grow(i int) {
	n := max(2*len(h.counts), i+1, 4*subCount)
	grown := make([]uint64, n)
	copy(grown, h.counts)
	h.counts = grown
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.grow(len(o.counts) - 1)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Reset empties h and keeps its memory.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.total, h.sum, h.min, h.max = 0, 0, 0, 0
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.total }

// Min returns the smallest recorded value exactly, or 0 when empty.
func (h *Histogram) Min() int64 { return h.min }

// Max returns the largest recorded value exactly, or 0 when empty.
func (h *Histogram) Max() int64 { return h.max }

// Mean returns the exact arithmetic mean, or 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Quantile returns the value below or at which a fraction q (0..1) of the
// recorded values fall: the midpoint of the bucket holding that rank, clamped
// to the exact minimum and maximum. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	if q >= 1 {
		return h.max
	}
	rank := uint64(math.Ceil(max(q, 0) * float64(h.total)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, width := bounds(i)
			mid := int64(lo + (width-1)/2)
			return min(max(mid, h.min), h.max)
		}
	}
	return h.max
}

// Bucket is one non-empty bucket: Count values lay in [Low, High].
type Bucket struct {
	Low, High int64
	Count     uint64
}

// Buckets calls fn for each non-empty bucket in increasing order of value.
func (h *Histogram) Buckets(fn func(Bucket)) {
	for i, c := range h.counts {
		if c == 0 {
			continue
		}
		lo, width := bounds(i)
		fn(Bucket{Low: int64(lo), High: int64(lo + width - 1), Count: c})
	}
}
