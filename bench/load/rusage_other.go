//go:build !unix

package load

import "time"

type cpuUsage struct {
	user, system time.Duration
	ok           bool
}

// readCPU reports nothing where getrusage does not exist.
func readCPU() cpuUsage { return cpuUsage{} }
