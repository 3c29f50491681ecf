package config

import (
	"strings"
	"testing"
)

func TestFillSection(t *testing.T) {
	const key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
	for _, tc := range []struct{ yaml, err string }{
		{"fill: {manifest: /m.json, state_dir: /var/lib/edgecache/fill}", ""},
		{"fill: {manifest: \"https://cdn.example/m.json.zst?sig=1\", state_dir: /s}", ""},
		{"fill: {manifest: /m.json}\ncache: {disks: [{path: /srv/c1, size: 1TiB}]}", ""},
		{"fill: {manifest: /m.json, window: \"02:00-06:00\", timezone: Europe/Berlin, rate: 200MiB, concurrency: 8, public_key: " + key + ", state_dir: /s, reports: 3}", ""},
		{"fill: {manifest: /m.json, window: \"22:00-24:00\", timezone: Local, state_dir: /s}", ""},
		{"fill: {state_dir: /s}", ""},
		{"fill: {manifest: /m.json}", "f.yaml:2: fill.manifest: is set, but fill.state_dir is not and there is no disk tier"},
		{"fill: {manifest: \"ftp://x/m.json\", state_dir: /s}", `f.yaml:2: fill.manifest: "ftp://x/m.json": want a file path or an http:// or https:// URL`},
		{"fill: {manifest: \"http:///m.json\", state_dir: /s}", `f.yaml:2: fill.manifest: "http:///m.json" is not a URL with a host`},
		{"fill: {manifest: /m, state_dir: /s, window: \"2-6\"}", `f.yaml:2: fill.window: fill window "2-6": start: "2": want HH:MM`},
		{"fill: {manifest: /m, state_dir: /s, window: \"02:00-02:00\"}", `f.yaml:2: fill.window: fill window "02:00-02:00": empty`},
		{"fill: {state_dir: /s, window: \"02:00-06:00\"}", `f.yaml:2: fill.window: is set, but fill.manifest is not`},
		{"fill: {timezone: Mars/Olympus}", `f.yaml:2: fill.timezone: "Mars/Olympus" is not a time zone`},
		{"fill: {timezone: \"\"}", `f.yaml:2: fill.timezone: is empty`},
		{"fill: {rate: -1}", `f.yaml:2: fill.rate: "-1" is not a size`},
		{"fill: {concurrency: 0}", `f.yaml:2: fill.concurrency: 0 is out of range (1..1024)`},
		{"fill: {reports: 0}", `f.yaml:2: fill.reports: 0 is out of range (1..10000)`},
		{"fill: {public_key: abc}", `f.yaml:2: fill.public_key: ed25519 public key: want 32 bytes in base64 or hex`},
		{"fill: {rate: fast}", `f.yaml:2: fill.rate: `},
		{"fill: {windows: \"02:00-06:00\"}", `f.yaml:2: fill.windows: unknown field (known: manifest, window, timezone, rate, concurrency, public_key, state_dir, reports)`},
	} {
		_, err := Parse("f.yaml", []byte("origin: {url: http://o}\n"+tc.yaml+"\n"))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.yaml, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.err)
		}
	}
}

func TestFillStateDir(t *testing.T) {
	c := Default()
	if c.FillEnabled() || c.FillStateDir() != "" {
		t.Errorf("default: enabled %v, state dir %q", c.FillEnabled(), c.FillStateDir())
	}
	c.Cache.Disks = []Disk{{Path: "/srv/cache1/", Size: TiB}}
	c.Fill.Manifest = "/m.json"
	if !c.FillEnabled() || c.FillStateDir() != "/srv/edgecache-fill" {
		t.Errorf("with a disk: enabled %v, state dir %q", c.FillEnabled(), c.FillStateDir())
	}
	c.Fill.StateDir = "/var/lib/edgecache/fill"
	if c.FillStateDir() != "/var/lib/edgecache/fill" {
		t.Errorf("state dir %q", c.FillStateDir())
	}
}

// The fill settings apply only after a restart.
func TestFillNotLive(t *testing.T) {
	a, b := Default(), Default()
	b.Fill.Rate = 100 * MiB
	d := Diff(a, b)
	if len(d) != 1 || d[0].Field != "fill.rate" || d[0].Live {
		t.Errorf("Diff = %v", d)
	}
}
