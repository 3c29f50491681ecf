// Package admin is edgecache's admin listener: a net/http server, separate
// from the content listener, serving
//
//	GET  /metrics  Prometheus exposition of a private registry
//	GET  /healthz  200 while the process runs
//	GET  /readyz   200 when the daemon serves; 503 with the reason otherwise
//	GET  /stats    JSON: requests, bytes, tiers, disks, origin, uptime, version
//	POST /purge    remove an object (path=...) or every object under a prefix (prefix=...)
//	POST /fill     start a fill job (manifest=..., limit=...; see FillControl)
//	GET  /fill     JSON: the fill job's state, or the last one's
//
// Every metric is read on scrape from counters the serving code keeps as
// atomics (cache.Store.Stats, disk.Store.Stats, server.Server.Metrics,
// origin.Metered.Stats) by one prometheus.Collector: a request pays no label
// lookup and no lock for metrics.
//
// When a token is set (Admin.SetToken; the daemon requires one when the
// admin address is not loopback), every request must carry
// "Authorization: Bearer TOKEN"; one that does not gets 401 and nothing
// else.
package admin
