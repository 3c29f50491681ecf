package main

import (
	"syscall"
	"unsafe"
)

// monotonicUsec returns CLOCK_MONOTONIC in microseconds, the clock
// sd_notify's MONOTONIC_USEC is read from.
func monotonicUsec() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Sec*1e6 + ts.Nsec/1e3
}
