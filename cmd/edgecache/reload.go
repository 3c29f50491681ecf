package main

import (
	"fmt"
	"reflect"

	"edgecache/cache"
	"edgecache/config"
	"edgecache/origin"
	"edgecache/server"
)

// freshnessOf returns the cache's freshness settings of cfg.
func freshnessOf(cfg *config.Config) cache.Freshness {
	return cache.Freshness{
		DefaultTTL:              cfg.Cache.DefaultTTL.D(),
		NegativeTTL:             cfg.Cache.NegativeTTL.D(),
		TTLOverrides:            ttlOverrides(cfg.Cache.TTLOverrides),
		MaxStaleWhileRevalidate: disabledIfZero(cfg.Cache.MaxStaleWhileRevalidate.D()),
		MaxStaleIfError:         disabledIfZero(cfg.Cache.MaxStaleIfError.D()),
		StaleIfError:            cfg.Cache.ServeStaleOnError.D(),
	}
}

// limitsOf returns the server's live limits of cfg.
func limitsOf(cfg *config.Config) server.Limits {
	return server.Limits{
		MaxRanges:           cfg.Server.MaxRanges,
		MinSendRate:         int64(cfg.Server.MinSendRate),
		MaxRangeFetchChunks: cfg.Server.MaxRangeFetchChunks,
		MaxConnectionsPerIP: perIPOf(cfg),
	}
}

// perIPOf returns server.max_connections_per_ip as the server takes it
// (the config's 0, no cap, is negative there).
func perIPOf(cfg *config.Config) int {
	if cfg.Server.MaxConnectionsPerIP == 0 {
		return -1
	}
	return cfg.Server.MaxConnectionsPerIP
}

// prepareUpstreams builds the upstreams of next if its origin or upstream
// settings differ from the running ones (nil if they do not), so that a
// reload that cannot build them is rejected before anything changes. The
// box keeps its name in Via (server.name applies after a restart).
func (rt *running) prepareUpstreams(next *config.Config) (*origin.Upstreams, error) {
	if reflect.DeepEqual(rt.cfg.Origin, next.Origin) && reflect.DeepEqual(rt.cfg.Upstreams, next.Upstreams) {
		return nil, nil
	}
	pinned := *next
	pinned.Server.Name = rt.cfg.Server.Name
	pinned.Listen = rt.cfg.Listen
	ups, _, err := newUpstreams(&pinned, rt.log)
	if err != nil {
		return nil, fmt.Errorf("building the upstreams: %w", err)
	}
	return ups, nil
}

// applyLive applies next's live cache, server and upstream settings to the
// running daemon and records them in cur. ups, if not nil, replaces the
// running upstreams: fetches in progress on the old ones finish, new ones
// go to ups (with fresh circuit breakers).
func (rt *running) applyLive(cur, next *config.Config, ups *origin.Upstreams) {
	rt.store.SetFreshness(freshnessOf(next))
	cur.Cache.DefaultTTL, cur.Cache.NegativeTTL = next.Cache.DefaultTTL, next.Cache.NegativeTTL
	cur.Cache.TTLOverrides = next.Cache.TTLOverrides
	cur.Cache.MaxStaleWhileRevalidate, cur.Cache.MaxStaleIfError = next.Cache.MaxStaleWhileRevalidate, next.Cache.MaxStaleIfError
	cur.Cache.ServeStaleOnError = next.Cache.ServeStaleOnError
	rt.srv.SetLimits(limitsOf(next))
	cur.Server.MaxRanges, cur.Server.MinSendRate = next.Server.MaxRanges, next.Server.MinSendRate
	cur.Server.MaxRangeFetchChunks = next.Server.MaxRangeFetchChunks
	cur.Server.MaxConnectionsPerIP = next.Server.MaxConnectionsPerIP
	if ups != nil {
		if old, ok := rt.upstreams.Set(ups).(*origin.Upstreams); ok {
			old.Close() // stops its probes and idle connections; fetches in progress finish
		}
		cur.Origin, cur.Upstreams = next.Origin, next.Upstreams
		rt.log.Info("reload: upstreams replaced", "origin", next.Origin.URL, "upstreams", len(next.Upstreams))
	}
}
