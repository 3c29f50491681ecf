package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/config"
	"edgecache/origin"
	"edgecache/server"
)

// memoryPlan is what the daemon's memory is made of: the parts of the bound
// its resident size stays within (see limit).
type memoryPlan struct {
	Tier      int64 // cache.memory: chunk payloads held by the memory tier
	Fetch     int64 // cache.fetch_memory: chunk buffers being filled from the origin
	DiskQueue int64 // cache.disk_queue with a disk tier, else 0: fetched chunks waiting for the disk
	Fill      int64 // fill.concurrency × cache.chunk_size when filling, else 0: the fill's own fetch slots
	Objects   int64 // entries of the object index (cache.Options.MaxObjects' default)
	// DiskChunks is the most chunks the disk tier's index can hold: each
	// disk's size over its least charge per chunk (disk.Options.MinCharge,
	// a quarter of cache.chunk_size).
	DiskChunks int64
	// Unsized is what the upstreams' clients may hold of answers without
	// Content-Length, read whole to learn their size: origin.MaxUnsizedBuffered
	// each, for the origin and every upstream.
	Unsized int64
}

// The overhead of the plan, measured on the benchmark VM (README, "Memory
// use"): an idle daemon is 11 MiB resident, 9-10 MiB of it the executable's
// text and data; an object served once costs 4.2 KB of heap while its
// version is indexed (its header fields, its rendered answer header, the
// index's and the memory tier's entries: server.TestHeapPerObject, which
// fails past server.IndexEntryBytes); a client connection is
// 19 KiB idle and 30 KiB while streaming (fasthttp's read and write buffers,
// its goroutine's stack, the request context).
const (
	indexEntry     = server.IndexEntryBytes // bytes per object index entry (server.TestHeapPerObject)
	statusAnswers  = cache.StatusBytes      // the origin's status answers the index remembers, at most
	connections    = 1024                   // client connections the plan allows for
	connectionSize = 32 << 10               // bytes per client connection
	// outsideHeap is resident memory neither the arena nor the Go heap
	// holds: the executable's text and data, thread stacks.
	outsideHeap = 32 << 20
)

// memoryPlanFor is the plan of a configuration.
func memoryPlanFor(cfg *config.Config) memoryPlan {
	p := memoryPlan{Tier: int64(cfg.Cache.Memory), Fetch: int64(cfg.Cache.FetchMemory)}
	if len(cfg.Cache.Disks) > 0 {
		p.DiskQueue = int64(cfg.Cache.DiskQueue)
	}
	for _, d := range cfg.Cache.Disks {
		p.DiskChunks += int64(d.Size) / max(int64(cfg.Cache.ChunkSize)/4, 4096)
	}
	if cfg.FillEnabled() {
		p.Fill = int64(cfg.Fill.Concurrency) * int64(cfg.Cache.ChunkSize)
	}
	clients := int64(len(cfg.Upstreams))
	if cfg.Origin.URL != "" || clients == 0 {
		clients++
	}
	p.Unsized = clients * origin.MaxUnsizedBuffered
	// As cache.New sizes the index by default.
	p.Objects = max(65536, p.Tier/max(int64(cfg.Cache.ChunkSize), 1)*4)
	return p
}

// arena is the chunk arena cache.New maps (Store.ArenaBytes): the memory
// tier, the flights' buffers and the disk write queue's chunks, all outside
// the Go heap and prefaulted at start.
func (p memoryPlan) arena() int64 { return p.Tier + p.Fetch + p.DiskQueue }

// heap is the Go heap's allowance: the object index (with the status
// answers it remembers), the disk tier's index, client connections and
// answers without Content-Length being read. Chunk payloads are not on it.
func (p memoryPlan) heap() int64 {
	return p.Objects*indexEntry + statusAnswers + p.DiskChunks*disk.IndexEntryBytes + connections*connectionSize + p.Unsized
}

// overhead is the plan's allowance for everything but the arena.
func (p memoryPlan) overhead() int64 { return p.heap() + outsideHeap }

// limit is the bound on the daemon's resident size:
//
//	tier + fetch memory + disk write queue (the arena) + fill slots + heap + outside the heap
func (p memoryPlan) limit() int64 { return p.arena() + p.Fill + p.overhead() }

// tuneMemory gives the Go heap a soft limit of the plan's heap allowance,
// unless the operator set GOMEMLIMIT, and returns the plan's limit. GOGC is
// left as it is: the heap holds no chunk payloads (they live in the
// arena), so its default growth is small, and the limit only makes the
// collector work harder if the index and connections outgrow their
// allowance.
func tuneMemory(plan memoryPlan, log *slog.Logger) int64 {
	limit := plan.limit()
	parts := []any{"limit", config.Size(limit).String(), "arena", config.Size(plan.arena()).String(),
		"tier", config.Size(plan.Tier).String(), "fetch", config.Size(plan.Fetch).String(),
		"disk_queue", config.Size(plan.DiskQueue).String(), "fill", config.Size(plan.Fill).String(),
		"heap", config.Size(plan.heap()).String(), "disk_index", config.Size(plan.DiskChunks * disk.IndexEntryBytes).String(), "unsized", config.Size(plan.Unsized).String(), "overhead", config.Size(plan.overhead()).String()}
	if os.Getenv("GOMEMLIMIT") != "" {
		log.Info("GOMEMLIMIT set: heap sizing left to the Go runtime; the memory plan does not hold", parts...)
		return limit
	}
	debug.SetMemoryLimit(plan.heap())
	log.Info("memory limit", parts...)
	return limit
}
