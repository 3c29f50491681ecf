package admin

import (
	"github.com/prometheus/client_golang/prometheus"

	"edgecache/origin"
)

// Metrics of the upstreams and of revalidation, in the order Collect sends
// them. The upstream label is the upstream's configured name (or URL): a
// bounded set.
var (
	dUpState      = desc("upstream_breaker_state", "Circuit breaker state of an upstream: 0 closed, 1 open, 2 half-open.", "upstream")
	dUpTrans      = desc("upstream_breaker_transitions_total", "Circuit breaker transitions of an upstream, by the state entered (open, half_open, closed).", "upstream", "to")
	dUpRejected   = desc("upstream_breaker_rejected_total", "Requests an upstream's breaker refused (open, or half-open with its probes out).", "upstream")
	dUpRequests   = desc("upstream_requests_total", "Requests sent to an upstream.", "upstream")
	dUpFailures   = desc("upstream_failures_total", "Requests to an upstream that failed against its breaker: no connection, a timeout, too slow (an answer, a connection closed without one or a body cut short only fails over).", "upstream")
	dUpFailovers  = desc("upstream_failovers_total", "Failures of an upstream after which the next one was tried.", "upstream")
	dUpInFlight   = desc("upstream_in_flight", "Fetches holding one of an upstream's in-flight slots now.", "upstream")
	dUpQueued     = desc("upstream_queued", "Fetches waiting for one of an upstream's in-flight slots now.", "upstream")
	dUpOverloaded = desc("upstream_overloaded_total", "Fetches an upstream's queue refused (full, or waited too long).", "upstream")
	dUpLoops      = desc("upstream_loops_total", "508 Loop Detected answers of an upstream.", "upstream")
	dUpHealth     = desc("upstream_health_checks_total", "Health probes of an upstream, by result (ok, failed).", "upstream", "result")
	dRevalidation = desc("revalidations_total", "Conditional requests for stale versions, by answer (not_modified: refreshed without fetching a byte; other: a new version or a failure).", "result")
	dStaleServed  = desc("stale_served_total", "Stale versions served as they were (stale-while-revalidate, stale-if-error).")
)

// collectUpstreams sends the metrics of ups.
func collectUpstreams(ch chan<- prometheus.Metric, ups []origin.UpstreamStats) {
	for _, u := range ups {
		b := u.Breaker
		ch <- gauge(dUpState, int64(b.State), u.Name)
		ch <- counter(dUpTrans, b.Opens, u.Name, "open")
		ch <- counter(dUpTrans, b.HalfOpens, u.Name, "half_open")
		ch <- counter(dUpTrans, b.Closes, u.Name, "closed")
		ch <- counter(dUpRejected, b.Rejected, u.Name)
		ch <- counter(dUpRequests, u.Requests, u.Name)
		ch <- counter(dUpFailures, u.Failures, u.Name)
		ch <- counter(dUpFailovers, u.Failovers, u.Name)
		ch <- gauge(dUpInFlight, u.InFlight, u.Name)
		ch <- gauge(dUpQueued, u.Queued, u.Name)
		ch <- counter(dUpOverloaded, u.Overloaded, u.Name)
		ch <- counter(dUpLoops, u.Loops, u.Name)
		ch <- counter(dUpHealth, u.HealthChecks-u.HealthFailures, u.Name, "ok")
		ch <- counter(dUpHealth, u.HealthFailures, u.Name, "failed")
	}
}
