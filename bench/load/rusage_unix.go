//go:build unix

package load

import (
	"syscall"
	"time"
)

type cpuUsage struct {
	user, system time.Duration
	ok           bool
}

// readCPU returns the CPU time this process has used so far.
func readCPU() cpuUsage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuUsage{}
	}
	return cpuUsage{user: time.Duration(ru.Utime.Nano()), system: time.Duration(ru.Stime.Nano()), ok: true}
}
