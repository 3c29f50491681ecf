package config

import (
	"reflect"
	"testing"
	"time"
)

func TestUpstreamsDecode(t *testing.T) {
	src := `origin:
  url: http://origin.test
  max_in_flight: 32
  breaker:
    failures: 7
    cool_down: 20s
upstreams:
  - name: parent
    url: http://parent.test:8080
    max_in_flight: 8
    breaker: {failures: 2}
  - url: http://sibling.test
    health: {path: /ok}
`
	cfg, err := Parse("f.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.UpstreamList()
	if len(got) != 3 {
		t.Fatalf("UpstreamList has %d entries, want 3", len(got))
	}
	tests := []struct {
		i            int
		name, url    string
		inFlight     int
		failures     int
		coolDown     time.Duration
		healthPath   string
		firstByteOut time.Duration
	}{
		{0, "parent", "http://parent.test:8080", 8, 2, 20 * time.Second, "", 15 * time.Second},
		{1, "http://sibling.test", "http://sibling.test", 32, 7, 20 * time.Second, "/ok", 15 * time.Second},
		{2, "origin", "http://origin.test", 32, 7, 20 * time.Second, "", 15 * time.Second},
	}
	for _, tt := range tests {
		u := got[tt.i]
		w := []any{tt.name, tt.url, tt.inFlight, tt.failures, tt.coolDown, tt.healthPath, tt.firstByteOut}
		g := []any{u.Name, u.URL, u.MaxInFlight, u.Breaker.Failures, u.Breaker.CoolDown.D(), u.Health.Path, u.FirstByteTimeout.D()}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("upstream %d = %v, want %v", tt.i, g, w)
		}
		if u.QueueLength != 1024 || u.Breaker.HalfOpenProbes != 1 || u.Health.Interval.D() != 5*time.Second {
			t.Errorf("upstream %d did not inherit the defaults: %+v", tt.i, u)
		}
	}
}

func TestUpstreamsOnlyNoOriginURL(t *testing.T) {
	cfg, err := Parse("f.yaml", []byte("upstreams:\n  - url: http://a.test\n"))
	if err != nil {
		t.Fatalf("upstreams without origin.url: %v", err)
	}
	if l := cfg.UpstreamList(); len(l) != 1 || l[0].URL != "http://a.test" {
		t.Errorf("UpstreamList = %+v", l)
	}
}

func TestUpstreamsErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{withURL + "upstreams:\n  - name: x\n", "f.yaml: upstreams[0].url: required: the upstream's base URL, e.g. http://parent.example.com"},
		{withURL + "upstreams:\n  - url: ftp://x\n", `f.yaml:4: upstreams[0].url: "ftp://x": want an http:// or https:// URL`},
		{withURL + "upstreams:\n  - url: http://a\n  - url: http://a\n", `f.yaml:5: upstreams[1].url: "http://a" is listed twice`},
		{withURL + "upstreams:\n  - url: http://a\n    max_in_flight: -1\n", "f.yaml:5: upstreams[0].max_in_flight: -1 is out of range (0..65536)"},
		{withURL + "upstreams:\n  - url: http://a\n    breaker: {failure_ratio: 1.5}\n", "f.yaml:5: upstreams[0].breaker.failure_ratio: 1.5 is out of range (0..1)"},
		{withURL + "  max_in_flight: 0\n", "f.yaml:3: origin.max_in_flight: 0 is out of range (1..65536)"},
		{withURL + "  queue_wait: 0s\n", "f.yaml:3: origin.queue_wait: must be > 0, got 0s"},
		{withURL + "  breaker:\n    half_open_probes: 0\n", "f.yaml:4: origin.breaker.half_open_probes: 0 is out of range (1..1000)"},
		{withURL + "  health:\n    path: health\n", `f.yaml:4: origin.health.path: "health" is not an absolute path (want e.g. /health)`},
		{withURL + "  retry_backoff: -1s\n", "f.yaml:3: origin.retry_backoff: must be >= 0 (0: none), got -1s"},
		{withURL + "server:\n  name: \"box a\"\n", `f.yaml:4: server.name: "box a" is not a name for Via (want letters, digits and -._: only)`},
		{"upstreams: []\n", "f.yaml: origin.url: required: the origin's base URL, e.g. http://origin.example.com"},
	}
	for _, tt := range tests {
		wantErrors(t, tt.src, tt.want)
	}
}
