package main

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"
)

// tuneMemory sizes the Go heap for a memory tier of budget bytes, unless
// the operator set GOGC or GOMEMLIMIT.
//
// The memory tier is most of the heap and holds no pointers, so the default
// GOGC=100 would let the heap grow to twice the tier and return freed chunks
// to the OS, after which every new chunk is fresh memory: the kernel (and,
// in a VM, the hypervisor) must fault in and zero each page on first touch.
// Measured on the 2-core VM this project is benchmarked on, touching new
// memory costs about 3 ms per MiB, three times what it takes to fetch that
// MiB from a loopback origin. Instead the heap gets a memory limit of the
// budget plus a quarter plus 256 MiB, collection is driven by that limit
// alone, and the budget plus a quarter is touched once at start in the
// background, so chunks reuse pages the process already has.
func tuneMemory(budget int64, log *slog.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Info("GOGC or GOMEMLIMIT set: heap sizing left to the Go runtime")
		return
	}
	limit := budget + budget/4 + 256<<20
	debug.SetMemoryLimit(limit)
	debug.SetGCPercent(-1)
	// Between collections the heap grows to the limit: touch up to the
	// tier plus its quarter of garbage, leaving the rest of the limit as
	// headroom for the prefault itself.
	go prefault(budget+budget/4, log)
}

// prefault touches budget bytes of heap in 4 MiB blocks, then frees them:
// the runtime keeps the pages (under the memory limit nothing is returned
// to the OS) and hands them to the chunks that follow.
func prefault(budget int64, log *slog.Logger) {
	start := time.Now()
	const block = 4 << 20
	blocks := make([][]byte, 0, budget/block+1)
	for n := int64(0); n < budget; n += block {
		b := make([]byte, block)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		blocks = append(blocks, b)
	}
	runtime.KeepAlive(blocks) // every block distinct memory until all are touched
	blocks = nil
	runtime.GC()
	log.Info("memory tier prefaulted", "bytes", budget, "took", time.Since(start).Round(time.Millisecond))
}
