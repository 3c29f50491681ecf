package config

import (
	"fmt"
	"strings"
)

// Limits of the upstream settings.
const (
	maxInFlight    = 65536   // largest max_in_flight
	maxQueueLength = 1000000 // largest queue_length
	maxFailures    = 1000000 // largest breaker.failures
	maxProbes      = 1000    // largest breaker.half_open_probes
)

// viaNameRune reports whether r may be part of server.name.
func viaNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._:", r)
}

// upstreams checks origin's load, breaker and health settings and the
// upstreams list (whose zero fields take the origin's values).
func (k *checker) upstreams(c *Config) {
	o := &c.Origin
	k.intRange("origin.max_in_flight", o.MaxInFlight, 1, maxInFlight)
	k.intRange("origin.queue_length", o.QueueLength, 0, maxQueueLength)
	k.positive("origin.queue_wait", o.QueueWait)
	k.positive("origin.request_deadline", o.RequestDeadline)
	if o.RetryBackoff < 0 {
		k.fail("origin.retry_backoff", o.RetryBackoff, "must be >= 0 (0: none), got %s", o.RetryBackoff)
	}
	k.breaker("origin.breaker", o.Breaker, true)
	k.health("origin.health", o.Health, true)

	seen := map[string]bool{}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		switch {
		case u.URL == "":
			k.fail(p+".url", u.URL, "required: the upstream's base URL, e.g. http://parent.example.com")
		case seen[u.URL]:
			k.fail(p+".url", u.URL, "%q is listed twice", u.URL)
		default:
			k.originURL(p+".url", u.URL)
		}
		seen[u.URL] = true
		for _, d := range []struct {
			f string
			v Duration
		}{{".connect_timeout", u.ConnectTimeout}, {".first_byte_timeout", u.FirstByteTimeout},
			{".idle_timeout", u.IdleTimeout}, {".queue_wait", u.QueueWait}} {
			if d.v < 0 {
				k.fail(p+d.f, d.v, "must be > 0, or 0 for the origin's, got %s", d.v)
			}
		}
		k.intRange(p+".max_conns", u.MaxConns, 0, maxOriginConns)
		k.intRange(p+".max_in_flight", u.MaxInFlight, 0, maxInFlight)
		k.intRange(p+".queue_length", u.QueueLength, 0, maxQueueLength)
		k.breaker(p+".breaker", u.Breaker, false)
		k.health(p+".health", u.Health, false)
	}
}

// breaker checks a Breaker; in an upstream (origin false) 0 is allowed
// everywhere: it takes the origin's value.
func (k *checker) breaker(p string, b Breaker, origin bool) {
	k.intRange(p+".failures", b.Failures, 0, maxFailures)
	if b.FailureRatio < 0 || b.FailureRatio > 1 {
		k.fail(p+".failure_ratio", b.FailureRatio, "%v is out of range (0..1)", b.FailureRatio)
	}
	lo := 0
	if origin {
		lo = 1
		k.positive(p+".window", b.Window)
		k.positive(p+".cool_down", b.CoolDown)
	} else {
		for _, d := range []struct {
			f string
			v Duration
		}{{".window", b.Window}, {".cool_down", b.CoolDown}} {
			if d.v < 0 {
				k.fail(p+d.f, d.v, "must be > 0, or 0 for the origin's, got %s", d.v)
			}
		}
	}
	k.intRange(p+".min_requests", b.MinRequests, lo, maxQueueLength)
	k.intRange(p+".half_open_probes", b.HalfOpenProbes, lo, maxProbes)
	if b.SlowThreshold < 0 {
		k.fail(p+".slow_threshold", b.SlowThreshold, "must be >= 0 (0: latency is not judged), got %s", b.SlowThreshold)
	}
}

// health checks a Health (see breaker for origin).
func (k *checker) health(p string, h Health, origin bool) {
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		k.fail(p+".path", h.Path, "%q is not an absolute path (want e.g. /health)", h.Path)
	}
	if origin {
		k.positive(p+".interval", h.Interval)
	} else if h.Interval < 0 {
		k.fail(p+".interval", h.Interval, "must be > 0, or 0 for the origin's, got %s", h.Interval)
	}
}

// UpstreamList returns the upstreams a miss tries, in order: Upstreams,
// then the origin (if origin.url is set), each with the origin's values
// in the fields it leaves at 0.
func (c *Config) UpstreamList() []Upstream {
	o := c.Origin
	var out []Upstream
	for _, u := range c.Upstreams {
		out = append(out, u.inherit(o))
	}
	if o.URL != "" {
		out = append(out, Upstream{Name: "origin", URL: o.URL}.inherit(o))
	}
	return out
}

// inherit returns u with its zero fields set from o.
func (u Upstream) inherit(o Origin) Upstream {
	pick := func(v *Duration, d Duration) {
		if *v == 0 {
			*v = d
		}
	}
	pickInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	pick(&u.ConnectTimeout, o.ConnectTimeout)
	pick(&u.FirstByteTimeout, o.FirstByteTimeout)
	pick(&u.IdleTimeout, o.IdleTimeout)
	pick(&u.QueueWait, o.QueueWait)
	pickInt(&u.MaxConns, o.MaxConns)
	pickInt(&u.MaxInFlight, o.MaxInFlight)
	pickInt(&u.QueueLength, o.QueueLength)
	b, ob := &u.Breaker, o.Breaker
	pickInt(&b.Failures, ob.Failures)
	if b.FailureRatio == 0 {
		b.FailureRatio = ob.FailureRatio
	}
	pick(&b.Window, ob.Window)
	pickInt(&b.MinRequests, ob.MinRequests)
	pick(&b.SlowThreshold, ob.SlowThreshold)
	pick(&b.CoolDown, ob.CoolDown)
	pickInt(&b.HalfOpenProbes, ob.HalfOpenProbes)
	if u.Health.Path == "" {
		u.Health.Path = o.Health.Path
	}
	pick(&u.Health.Interval, o.Health.Interval)
	if u.Name == "" {
		u.Name = u.URL
	}
	return u
}
