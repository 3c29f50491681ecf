package main

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"time"

	"edgecache/config"
)

// memoryPlan is what the daemon's memory is made of: the parts of the bound
// its resident size stays within (see limit).
type memoryPlan struct {
	Tier      int64 // cache.memory: chunk payloads held by the memory tier
	Fetch     int64 // cache.fetch_memory: chunk buffers being filled from the origin
	DiskQueue int64 // cache.disk_queue with a disk tier, else 0: fetched chunks waiting for the disk
	Fill      int64 // fill.concurrency × cache.chunk_size when filling, else 0: the fill's own fetch slots
	Objects   int64 // entries of the object index (cache.Options.MaxObjects' default)
}

// The overhead of the plan, measured on the benchmark VM (README, "Memory
// use"): an idle daemon is 11 MiB resident, 9-10 MiB of it the executable's
// text and data; an index entry is 450 bytes with a 30-byte key (the Meta,
// its strings, the LRU's element and map slot); a client connection is
// 19 KiB idle and 30 KiB while streaming (fasthttp's read and write buffers,
// its goroutine's stack, the request context). The Go runtime's memory
// limit is soft: filling chunks at 700 MB/s, the heap overshot it by up to
// 5 MiB while the collector marked.
const (
	indexEntry     = 512      // bytes per object index entry
	connections    = 1024     // client connections the plan allows for
	connectionSize = 32 << 10 // bytes per client connection
	// outsideHeap is resident memory the Go runtime's limit does not
	// hold: the executable, and the collector's overshoot.
	outsideHeap = 32 << 20
)

// memoryPlanFor is the plan of a configuration.
func memoryPlanFor(cfg *config.Config) memoryPlan {
	p := memoryPlan{Tier: int64(cfg.Cache.Memory), Fetch: int64(cfg.Cache.FetchMemory)}
	if len(cfg.Cache.Disks) > 0 {
		p.DiskQueue = int64(cfg.Cache.DiskQueue)
	}
	if cfg.FillEnabled() {
		p.Fill = int64(cfg.Fill.Concurrency) * int64(cfg.Cache.ChunkSize)
	}
	// As cache.New sizes the index by default.
	p.Objects = max(65536, p.Tier/max(int64(cfg.Cache.ChunkSize), 1)*4)
	return p
}

// garbage is the heap the plan leaves for chunks the memory tier has let go
// of but the collector has not freed yet: a quarter of the tier.
func (p memoryPlan) garbage() int64 { return p.Tier / 4 }

// overhead is the plan's allowance for everything but chunk payloads: the
// object index, client connections, and what lies outside the Go heap.
func (p memoryPlan) overhead() int64 {
	return p.Objects*indexEntry + connections*connectionSize + outsideHeap
}

// limit is the bound on the daemon's resident size:
//
//	tier + tier/4 + fetch memory + disk write queue + fill slots + overhead
func (p memoryPlan) limit() int64 {
	return p.Tier + p.garbage() + p.Fetch + p.DiskQueue + p.Fill + p.overhead()
}

// tuneMemory sizes the Go heap for plan, unless the operator set GOGC or
// GOMEMLIMIT, and returns the plan's limit.
//
// The chunk buffers are most of the heap and hold no pointers, so the
// default GOGC=100 would let the heap grow to twice the tier and return
// freed chunks to the OS, after which every new chunk is fresh memory: the
// kernel (and, in a VM, the hypervisor) must fault in and zero each page on
// first touch. Measured on the 2-core VM this project is benchmarked on,
// touching new memory costs about 3 ms per MiB, three times what it takes to
// fetch that MiB from a loopback origin. Instead the runtime gets a memory
// limit of the plan's limit less what lies outside the heap, collection is driven by that limit alone, and the tier, its
// garbage and the fetch memory are touched once at start in the background,
// so chunks reuse pages the process already has.
func tuneMemory(plan memoryPlan, log *slog.Logger) int64 {
	limit := plan.limit()
	parts := []any{"limit", config.Size(limit).String(), "tier", config.Size(plan.Tier).String(),
		"garbage", config.Size(plan.garbage()).String(), "fetch", config.Size(plan.Fetch).String(),
		"disk_queue", config.Size(plan.DiskQueue).String(), "fill", config.Size(plan.Fill).String(), "overhead", config.Size(plan.overhead()).String()}
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.Info("GOGC or GOMEMLIMIT set: heap sizing left to the Go runtime; the memory plan does not hold", parts...)
		return limit
	}
	debug.SetMemoryLimit(limit - outsideHeap)
	debug.SetGCPercent(-1)
	log.Info("memory limit", parts...)
	// Between collections the heap grows to the limit: touch the chunk
	// buffers' share of it, leaving the rest as headroom for the prefault
	// itself.
	go prefault(plan.Tier+plan.garbage()+plan.Fetch, log)
	return limit
}

// prefault touches budget bytes of heap in 4 MiB blocks, then frees them:
// the runtime keeps the pages (under the memory limit nothing is returned
// to the OS) and hands them to the chunks that follow. Each block is garbage
// as soon as it is touched, so the prefault holds 4 MiB, not budget, while
// traffic arrives: with no GOGC, nothing is collected (so no block's memory
// is reused) until the heap reaches the limit, and by then it is touched.
func prefault(budget int64, log *slog.Logger) {
	start := time.Now()
	const block = 4 << 20
	for n := int64(0); n < budget; n += block {
		b := make([]byte, block)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		runtime.KeepAlive(b)
	}
	runtime.GC()
	log.Info("memory tier prefaulted", "bytes", budget, "took", time.Since(start).Round(time.Millisecond))
}
