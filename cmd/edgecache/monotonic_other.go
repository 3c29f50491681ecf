//go:build !linux

package main

import "time"

// processStart anchors monotonicUsec where CLOCK_MONOTONIC is not read
// directly (systemd runs only on Linux).
var processStart = time.Now()

// monotonicUsec returns a monotonic clock in microseconds.
func monotonicUsec() int64 { return int64(time.Since(processStart) / time.Microsecond) }
