package admin

import (
	"net/http"
	"time"

	"edgecache/origin"
	"edgecache/server"
)

// Stats is the JSON document GET /stats answers, and what "edgecache
// stats" prints.
type Stats struct {
	Version       string  `json:"version"`
	StartTime     string  `json:"start_time"` // RFC 3339
	UptimeSeconds float64 `json:"uptime_seconds"`

	// Requests counts answers by method, status class and cache result.
	Requests []RequestCount `json:"requests"`
	// RequestsByCache sums Requests by cache result.
	RequestsByCache map[string]int64 `json:"requests_by_cache"`
	// BytesByTier are the body bytes sent by tier (memory, disk, origin).
	BytesByTier map[string]int64 `json:"bytes_by_tier"`

	Memory TierStats   `json:"memory"`
	Disk   *TierStats  `json:"disk,omitempty"`
	Disks  []DiskStats `json:"disks"`
	// Objects is the entries of the object index.
	Objects int `json:"objects"`

	Origin OriginStats `json:"origin"`
	// Upstreams are the upstreams in order, the origin last: breaker
	// state and load.
	Upstreams []UpstreamStats `json:"upstreams,omitempty"`
	// Revalidations counts conditional requests for stale versions;
	// NotModified those answered 304 (refreshed without a byte fetched);
	// StaleServed the stale versions served as they were.
	Revalidations int64 `json:"revalidations"`
	NotModified   int64 `json:"not_modified"`
	StaleServed   int64 `json:"stale_served"`
	// CollapsedWaiters counts the joins of a chunk fetch already in
	// progress: an upper bound of collapsed requests, as a request's own
	// read of the chunk its lookup or read-ahead started counts too.
	CollapsedWaiters int64 `json:"collapsed_waiters"`

	Connections     ConnStats       `json:"connections"`
	RecoveredPanics int64           `json:"recovered_panics"`
	AccessLog       *AccessLogStats `json:"access_log,omitempty"`
}

// UpstreamStats is one upstream in Stats.Upstreams.
type UpstreamStats struct {
	Name      string `json:"name"`
	URL       string `json:"url"`
	Breaker   string `json:"breaker"` // closed, open or half-open
	InFlight  int64  `json:"in_flight"`
	Queued    int64  `json:"queued"`
	Requests  int64  `json:"requests"`
	Failures  int64  `json:"failures"`
	Failovers int64  `json:"failovers"`
}

// RequestCount is one entry of Stats.Requests.
type RequestCount struct {
	Method string `json:"method"`
	Class  string `json:"status_class"`
	Cache  string `json:"cache"`
	Count  int64  `json:"count"`
}

// TierStats is what a tier holds against its budget.
type TierStats struct {
	Bytes     int64 `json:"bytes"`
	Chunks    int   `json:"chunks"`
	Budget    int64 `json:"budget_bytes"`
	Evictions int64 `json:"evictions"`
}

// DiskStats is one cache directory.
type DiskStats struct {
	Path      string `json:"path"`
	InService bool   `json:"in_service"`
	Reason    string `json:"reason,omitempty"`
	Bytes     int64  `json:"bytes"`
	Chunks    int    `json:"chunks"`
	Budget    int64  `json:"budget_bytes"`
}

// OriginStats are the origin fetches.
type OriginStats struct {
	// Fetches counts requests to the origin by result (ok, status,
	// timeout, inconsistent, error, canceled).
	Fetches map[string]int64 `json:"fetches"`
	// Errors is the fetches that did not give a usable answer (all but ok
	// and status).
	Errors int64 `json:"errors"`
	// Bytes is the payload bytes received.
	Bytes int64 `json:"bytes"`
	// Flights and FlightErrors count the chunk fetches started and failed.
	Flights      int64 `json:"flights"`
	FlightErrors int64 `json:"flight_errors"`
}

// ConnStats are the content listener's client connections.
type ConnStats struct {
	Open     int64 `json:"open"`
	Rejected int64 `json:"rejected"` // past server.max_connections: 503
	// RejectedPerIP are connections refused (429) because their client
	// address had server.max_connections_per_ip open.
	RejectedPerIP int64 `json:"rejected_per_ip"`
}

// AccessLogStats are the access log's lines.
type AccessLogStats struct {
	Written int64 `json:"written"`
	Dropped int64 `json:"dropped"`
	Errors  int64 `json:"errors"`
}

// Stats returns the daemon's counters now.
func (a *Admin) Stats() Stats {
	o := &a.opt
	sm := o.Server.Metrics()
	cs := o.Store.Stats()
	t := o.Store.Tiers()
	st := Stats{
		Version:         o.Version,
		StartTime:       o.Start.UTC().Format(time.RFC3339),
		UptimeSeconds:   time.Since(o.Start).Seconds(),
		RequestsByCache: map[string]int64{},
		BytesByTier:     map[string]int64{},
		Memory:          TierStats{Bytes: t.MemoryBytes, Chunks: t.MemoryChunks, Budget: t.MemoryBudget, Evictions: t.MemoryEvictions},
		Disks:           []DiskStats{},
		Objects:         t.Objects,
		Origin: OriginStats{Fetches: map[string]int64{}, Bytes: cs.OriginBytes, Flights: cs.Flights,
			FlightErrors: cs.FlightErrors},
		CollapsedWaiters: cs.FlightJoins,
		Revalidations:    cs.Revalidations,
		NotModified:      cs.NotModified,
		StaleServed:      cs.StaleHits,
		Connections:      ConnStats{Open: sm.OpenConnections, Rejected: sm.RejectedConnections, RejectedPerIP: sm.RejectedPerIP},
		RecoveredPanics:  sm.RecoveredPanics,
	}
	for _, r := range sm.Requests {
		st.Requests = append(st.Requests, RequestCount{r.Method, r.Class, r.Result.String(), r.Count})
		st.RequestsByCache[r.Result.String()] += r.Count
	}
	for i, n := range sm.Bytes {
		st.BytesByTier[server.TierNames[i]] = n
	}
	if o.Disk != nil {
		ds := o.Disk.Stats()
		dt := &TierStats{Evictions: ds.Evictions}
		for _, d := range ds.Disks {
			st.Disks = append(st.Disks, DiskStats{Path: d.Path, InService: d.InService, Reason: d.Reason,
				Bytes: d.Bytes, Chunks: d.Chunks, Budget: d.Budget})
			dt.Bytes += d.Bytes
			dt.Chunks += d.Chunks
			dt.Budget += d.Budget
		}
		st.Disk = dt
	}
	if o.Origin != nil {
		fs := o.Origin.Stats()
		for i, n := range fs.Results {
			r := origin.FetchResult(i)
			st.Origin.Fetches[r.String()] = n
			if r != origin.FetchOK && r != origin.FetchStatus {
				st.Origin.Errors += n
			}
		}
	}
	if o.Upstreams != nil {
		for _, u := range o.Upstreams() {
			st.Upstreams = append(st.Upstreams, UpstreamStats{Name: u.Name, URL: u.URL, Breaker: u.Breaker.State.String(),
				InFlight: u.InFlight, Queued: u.Queued, Requests: u.Requests, Failures: u.Failures, Failovers: u.Failovers})
		}
	}
	if l := o.AccessLog; l != nil {
		n, _ := l.Errors()
		st.AccessLog = &AccessLogStats{Written: l.Written(), Dropped: l.Dropped(), Errors: n}
	}
	return st
}

func (a *Admin) stats(w http.ResponseWriter, _ *http.Request) { writeJSON(w, a.Stats()) }
