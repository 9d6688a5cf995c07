//go:build unix

package validate

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user and system) this process has used. The
// benchmarks report it per operation next to wall time: on a shared
// machine wall time also counts the time other processes held the cores.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
