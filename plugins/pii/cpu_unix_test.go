//go:build unix

package pii_test

import (
	"syscall"
	"testing"
)

// cpuTime is the process's CPU time so far: the benchmarks report it per call as cpu-ns/op,
// which, unlike ns/op, does not grow when other work shares the machine.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func reportCPU(b *testing.B, start int64) {
	if start > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
