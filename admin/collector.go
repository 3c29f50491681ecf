package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"edgecache/meter"
	"edgecache/origin"
	"edgecache/server"
)

// collector exports the daemon's counters on scrape. Its metrics are
// unchecked (Describe sends nothing): the set of label values, disks
// included, is known only when collecting.
type collector struct {
	opt *Options
}

func newCollector(opt *Options) *collector { return &collector{opt} }

// Describe implements prometheus.Collector; the collector is unchecked.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

// desc names a metric; every one has the edgecache_ prefix.
func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("edgecache_"+name, help, labels, nil)
}

// Metric descriptions, in the order Collect sends them.
var (
	dBuild         = desc("build_info", "The running build: always 1, with its version.", "version")
	dStart         = desc("start_time_seconds", "Unix time the daemon started.")
	dRequests      = desc("http_requests_total", "Answers on the content listener by method (GET, HEAD, OTHER), status class and cache result (hit, partial, miss, revalidated, pass, error, none).", "method", "status_class", "cache")
	dRespBytes     = desc("http_response_bytes_total", "Payload bytes sent on the content listener by where each chunk came from (memory, disk, origin).", "tier")
	dTTFB          = desc("http_time_to_first_byte_seconds", "Time from a request being read to its first body byte handed to the connection.")
	dDuration      = desc("http_request_duration_seconds", "Time from a request being read to its last body byte handed to the connection.")
	dOpenConns     = desc("http_open_connections", "Client connections open on the content listener.")
	dRejected      = desc("http_rejected_connections_total", "Client connections answered 503 and closed because server.max_connections were open.")
	dRejectedPerIP = desc("http_rejected_connections_per_ip_total", "Client connections answered 429 and closed because their client address (IPv6: its /64) had server.max_connections_per_ip open.")
	dPanics        = desc("recovered_panics_total", "Panics recovered while serving (each one is a bug, logged with its stack).")
	dFetches       = desc("origin_fetches_total", "Requests to the origin by result (ok, status, timeout, inconsistent, error, canceled).", "result")
	dFetchLatency  = desc("origin_fetch_duration_seconds", "Time from asking the origin to its answer's headers (or the failure).")
	dOriginBytes   = desc("origin_bytes_total", "Payload bytes received from the origin.")
	dFlights       = desc("origin_flights_total", "Chunk fetches started (collapsed: one per chunk however many readers wait).")
	dFlightErrors  = desc("origin_flight_errors_total", "Chunk fetches that failed.")
	dCollapsed     = desc("collapsed_waiters_total", "Joins of a chunk fetch already in progress (an upper bound of collapsed requests: a request's own read of the chunk its lookup or read-ahead started counts too).")
	dAbandoned     = desc("origin_span_chunks_abandoned_total", "Chunks of span fetches (one origin request for a request's consecutive missing chunks) not fetched because every client reading the span had gone.")
	dChunkHits     = desc("chunk_hits_total", "Chunks read from a tier (memory, disk).", "tier")
	dTierBytes     = desc("tier_bytes", "Payload bytes a tier holds (disk: in 4 KiB blocks, writes in flight included).", "tier")
	dTierChunks    = desc("tier_chunks", "Chunks a tier holds.", "tier")
	dTierBudget    = desc("tier_budget_bytes", "Byte budget of a tier.", "tier")
	dEvictions     = desc("evictions_total", "Chunks evicted to stay within a tier's budget.", "tier")
	dObjects       = desc("objects", "Entries in the object index (versions and remembered status answers).")
	dChecksum      = desc("checksum_failures_total", "Disk chunks whose checksum did not match (dropped and fetched again, never served).")
	dCorrupt       = desc("disk_corrupt_chunks_total", "Damaged chunk files found other than by checksum (bad header, wrong length, holding another chunk, vanished while indexed).")
	dIOErrors      = desc("disk_io_errors_total", "Disk I/O failures.")
	dFullWrites    = desc("disk_full_writes_total", "Chunk writes that met a full file system (ENOSPC, EDQUOT): the disk stays in service, its budget cut to what it holds (see edgecache_disk_budget_bytes); the periodic check gives room back as the file system frees it.")
	dRestamped     = desc("disk_restamped_chunks_total", "Disk chunk files found modified after the daemon wrote or verified them whose payload was verified again, intact, and stamped again (a damaged one counts in checksum_failures_total).")
	dResErrors     = desc("disk_resource_errors_total", "Disk reads and writes that failed for want of file descriptors or memory (EMFILE, ENFILE, ENOMEM): misses; the disk stays in service.")
	dDiskUp        = desc("disk_in_service", "1 if the cache directory is in service, 0 if it was taken out (see the log and edgecache disk clear).", "disk")
	dDiskBytes     = desc("disk_bytes", "Bytes a cache directory holds.", "disk")
	dDiskBudget    = desc("disk_budget_bytes", "Byte budget in force of a cache directory: its configured size, or less when its file system has less room (a full disk).", "disk")
	dIndexReady    = desc("disk_index_ready", "1 once the disk index is loaded.")
	dDiskWrites    = desc("disk_writes_total", "Chunks written to the disk tier.")
	dWriteErrors   = desc("disk_write_errors_total", "Chunk writes the disk tier refused or failed.")
	dQueueDrops    = desc("disk_write_queue_dropped_total", "Chunks not written to disk because the write queue stayed full (kept in memory only).")
	dDeclined      = desc("disk_writes_declined_total", "Chunks not written to disk because it was their first miss lately (cache.disk_second_miss); disk_writes_total counts them too.")
	dRecycled      = desc("disk_files_recycled_total", "Chunks written into the file of an evicted chunk instead of a new file.")
	dQueueBytes    = desc("disk_write_queue_bytes", "Bytes of chunks waiting to be written to disk.")
	dStuckWriters  = desc("disk_stuck_writers", "Disk writers whose chunk write has not ended for 2 s (a disk that hangs), each replaced by another writer meanwhile.")
	dQueueHits     = desc("disk_write_queue_hits_total", "Chunks served from the disk write queue: memory had evicted them before their disk write ended (not fetched again).")
	dScrubbed      = desc("disk_scrubbed_bytes_total", "Payload bytes the scrubber read back and verified.")
	dOpenFiles     = desc("disk_open_files", "Chunk files the disk tier keeps open between hits (its fd cache, cache.open_files).")
	dOpenFileHits  = desc("disk_open_file_hits_total", "Disk hits served from a chunk file kept open (no open or header read).")
	dArenaHeap     = desc("arena_heap_chunks_total", "Chunks put on the Go heap because every slot of the chunk arena was held (by readers of chunks evicted meanwhile).")
	dPinned        = desc("pinned_chunks", "Chunks pinned by responses now (held from the lookup until the response reaches them; at most a quarter of the memory tier).")
	dPinsDenied    = desc("pins_denied_total", "Chunks a response did not pin because the pin budget was spent (its Cache-Status then says where they were when the headers went out).")
	dArenaDropped  = desc("arena_dropped_chunks_total", "Memory chunks sent with sendfile whose pages were taken out of the arena's memory file when they were released (fresh pages on reuse).")
	dArenaSent     = desc("arena_sent_bytes_total", "Memory chunk bytes sent from the arena's memory file with sendfile(2) rather than copied.")
	dArenaLost     = desc("arena_lost_bytes", "Arena bytes never reused because their pages could not be taken out of the memory file (logged at ERROR).")
	dALWritten     = desc("access_log_lines_total", "Access log lines written.")
	dALDropped     = desc("access_log_dropped_total", "Access log lines dropped because the buffer was full.")
	dALErrors      = desc("access_log_write_errors_total", "Access log writes that failed.")
)

func counter(d *prometheus.Desc, v int64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(d *prometheus.Desc, v int64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}

func histogram(d *prometheus.Desc, s meter.Snapshot) prometheus.Metric {
	return prometheus.MustNewConstHistogram(d, s.Count, s.Sum, s.Buckets)
}

// Collect implements prometheus.Collector: it reads every counter once.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	o := c.opt
	ch <- gauge(dBuild, 1, o.Version)
	ch <- prometheus.MustNewConstMetric(dStart, prometheus.GaugeValue, float64(o.Start.UnixNano())/1e9)

	sm := o.Server.Metrics()
	for _, r := range sm.Requests {
		ch <- counter(dRequests, r.Count, r.Method, r.Class, r.Result.String())
	}
	for i, n := range sm.Bytes {
		ch <- counter(dRespBytes, n, server.TierNames[i])
	}
	ch <- histogram(dTTFB, sm.TTFB)
	ch <- histogram(dDuration, sm.Duration)
	ch <- gauge(dOpenConns, sm.OpenConnections)
	ch <- counter(dRejected, sm.RejectedConnections)
	ch <- counter(dRejectedPerIP, sm.RejectedPerIP)
	ch <- counter(dPanics, sm.RecoveredPanics)

	if o.Origin != nil {
		fs := o.Origin.Stats()
		for i, n := range fs.Results {
			ch <- counter(dFetches, n, origin.FetchResult(i).String())
		}
		ch <- histogram(dFetchLatency, fs.Latency)
	}
	if o.Upstreams != nil {
		collectUpstreams(ch, o.Upstreams())
	}
	cs := o.Store.Stats()
	ch <- counter(dRevalidation, cs.NotModified, "not_modified")
	ch <- counter(dRevalidation, cs.Revalidations-cs.NotModified, "other")
	ch <- counter(dStaleServed, cs.StaleHits)
	ch <- counter(dOriginBytes, cs.OriginBytes)
	ch <- counter(dFlights, cs.Flights)
	ch <- counter(dFlightErrors, cs.FlightErrors)
	ch <- counter(dCollapsed, cs.FlightJoins)
	ch <- counter(dAbandoned, cs.SpansAbandoned)
	ch <- counter(dChunkHits, cs.ChunkHits, "memory")
	ch <- counter(dArenaHeap, cs.ArenaHeapChunks)
	ch <- gauge(dPinned, cs.PinnedChunks)
	ch <- counter(dPinsDenied, cs.PinsDenied)
	ch <- counter(dArenaDropped, cs.ArenaDropped)
	ch <- counter(dArenaSent, cs.ArenaSentBytes)
	ch <- gauge(dArenaLost, cs.ArenaLostBytes)
	t := o.Store.Tiers()
	ch <- gauge(dTierBytes, t.MemoryBytes, "memory")
	ch <- gauge(dTierChunks, int64(t.MemoryChunks), "memory")
	ch <- gauge(dTierBudget, t.MemoryBudget, "memory")
	ch <- counter(dEvictions, t.MemoryEvictions, "memory")
	ch <- gauge(dObjects, int64(t.Objects))

	if o.Disk != nil {
		ds := o.Disk.Stats()
		ch <- counter(dChunkHits, cs.DiskHits, "disk")
		var bytes, chunks, budget int64
		for _, d := range ds.Disks {
			up := int64(0)
			if d.InService {
				up = 1
			}
			ch <- gauge(dDiskUp, up, d.Path)
			ch <- gauge(dDiskBytes, d.Bytes, d.Path)
			ch <- gauge(dDiskBudget, d.Budget, d.Path)
			bytes, chunks, budget = bytes+d.Bytes, chunks+int64(d.Chunks), budget+d.Budget
		}
		ch <- gauge(dTierBytes, bytes, "disk")
		ch <- gauge(dTierChunks, chunks, "disk")
		ch <- gauge(dTierBudget, budget, "disk")
		ch <- counter(dEvictions, ds.Evictions, "disk")
		ready := int64(0)
		if ds.Ready {
			ready = 1
		}
		ch <- gauge(dIndexReady, ready)
		ch <- counter(dChecksum, ds.ChecksumFailures)
		ch <- counter(dCorrupt, ds.Corrupt)
		ch <- counter(dIOErrors, ds.IOErrors)
		ch <- counter(dResErrors, ds.ResourceErrors)
		ch <- counter(dRestamped, ds.Restamped)
		ch <- counter(dFullWrites, ds.FullWrites)
		ch <- counter(dScrubbed, ds.ScrubbedBytes)
		ch <- gauge(dOpenFiles, int64(ds.OpenFiles))
		ch <- counter(dOpenFileHits, ds.OpenFileHits)
		ch <- counter(dDiskWrites, cs.DiskWrites)
		ch <- counter(dWriteErrors, cs.DiskWriteErrors)
		ch <- counter(dQueueDrops, cs.DiskWriteSkips)
		ch <- counter(dDeclined, ds.Declined)
		ch <- counter(dRecycled, ds.Recycled)
		ch <- gauge(dQueueBytes, cs.DiskQueueBytes)
		ch <- counter(dQueueHits, cs.QueuedHits)
		ch <- gauge(dStuckWriters, cs.StuckWriters)
	}
	if l := o.AccessLog; l != nil {
		n, _ := l.Errors()
		ch <- counter(dALWritten, l.Written())
		ch <- counter(dALDropped, l.Dropped())
		ch <- counter(dALErrors, n)
	}
	if o.Fill != nil {
		collectFill(ch, o.Fill)
	}
}
