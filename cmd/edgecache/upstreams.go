package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"

	"edgecache/config"
	"edgecache/origin"
)

// newUpstreams builds the cache's source from the configuration: the
// upstreams in order, then the origin, each with its limits, breaker and
// health probes. It returns the box's name in Via too (server.name, or a
// default, see viaName).
func newUpstreams(cfg *config.Config, log *slog.Logger) (*origin.Upstreams, string, error) {
	via := viaName(cfg)
	var ups []origin.UpstreamOptions
	for _, u := range cfg.UpstreamList() {
		b := u.Breaker
		failures, ratio := b.Failures, b.FailureRatio
		if failures == 0 {
			failures = -1 // config's 0 is "never on a count"
		}
		if ratio == 0 {
			ratio = -1
		}
		queue := u.QueueLength
		if queue == 0 {
			queue = -1 // config's 0 is "none wait"
		}
		ups = append(ups, origin.UpstreamOptions{
			Name: u.Name,
			URL:  u.URL,
			Client: origin.Options{
				ConnectTimeout:   u.ConnectTimeout.D(),
				FirstByteTimeout: u.FirstByteTimeout.D(),
				IdleTimeout:      u.IdleTimeout.D(),
				MaxConnsPerHost:  u.MaxConns,
			},
			MaxInFlight: u.MaxInFlight,
			QueueLength: queue,
			QueueWait:   u.QueueWait.D(),
			Breaker: origin.BreakerOptions{Failures: failures, FailureRatio: ratio, Window: b.Window.D(),
				MinRequests: b.MinRequests, SlowThreshold: b.SlowThreshold.D(), CoolDown: b.CoolDown.D(),
				HalfOpenProbes: b.HalfOpenProbes},
			HealthPath:     u.Health.Path,
			HealthInterval: u.Health.Interval.D(),
		})
	}
	backoff := cfg.Origin.RetryBackoff.D()
	if backoff == 0 {
		backoff = -1 // config's 0 is "none"
	}
	p, err := origin.NewUpstreams(ups, origin.PoolOptions{Via: via, Deadline: cfg.Origin.RequestDeadline.D(),
		Backoff: backoff, Logger: log})
	if err != nil {
		return nil, "", fmt.Errorf("upstreams: %w", err)
	}
	for _, u := range ups {
		log.Info("upstream", "name", u.Name, "url", u.URL, "max_in_flight", u.MaxInFlight,
			"max_conns", u.Client.MaxConnsPerHost, "health", u.HealthPath)
	}
	return p, via, nil
}

// viaName is the box's name in Via: server.name, else the host name and
// the listen port, else (port 0: picked by the kernel) the host name and
// the process id, so two daemons on one host never share a name.
func viaName(cfg *config.Config) string {
	if cfg.Server.Name != "" {
		return cfg.Server.Name
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "edgecache"
	}
	if _, port, err := net.SplitHostPort(cfg.Listen); err == nil && port != "" && port != "0" {
		return host + ":" + port
	}
	return host + ".pid" + strconv.Itoa(os.Getpid())
}

// originFlags applies repeated --origin flags: all but the last replace
// the upstreams list, the last is origin.url.
func originFlags(cfg *config.Config, urls []string) {
	if len(urls) == 0 {
		return
	}
	cfg.Upstreams = nil
	for _, u := range urls[:len(urls)-1] {
		cfg.Upstreams = append(cfg.Upstreams, config.Upstream{URL: u})
	}
	cfg.Origin.URL = urls[len(urls)-1]
}
