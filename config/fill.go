package config

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"edgecache/fill"
)

// Fill configures filling the cache ahead of demand from a manifest of
// what will be popular (package fill). Filling is on when Manifest or
// StateDir is set: then jobs can be started through the admin listener
// (POST /fill, "edgecache fill"), and with a Window one runs every day.
type Fill struct {
	// Manifest is the manifest a fill job fills from: a file path or an
	// http:// or https:// URL. Empty (the default): none configured; a job
	// started through the admin listener must then name one.
	Manifest string `yaml:"manifest"`
	// Window is the daily fill window, "HH:MM-HH:MM" in Timezone (e.g.
	// "02:00-06:00"; "22:00-02:00" crosses midnight): a job over Manifest
	// runs in each window and is stopped at its end. Empty (the default):
	// no built-in window (start jobs with "edgecache fill", e.g. from a
	// systemd timer).
	Window string `yaml:"window"`
	// Timezone is the IANA time zone of Window, e.g. "Europe/Berlin", or
	// "Local" for the machine's. Default "UTC".
	Timezone string `yaml:"timezone"`
	// Rate caps the bytes per second a fill job asks of the origin; 0 (the
	// default): no cap.
	Rate Size `yaml:"rate"`
	// Concurrency is the most files filled at once, 1..1024; it is also
	// the number of chunk buffers fills fetch into (their own, on top of
	// cache.fetch_memory). Default 4.
	Concurrency int `yaml:"concurrency"`
	// PublicKey is the ed25519 key (32 bytes, base64 or hex) manifests
	// must be signed with (a detached "<manifest>.sig"). Empty (the
	// default): signatures are not required.
	PublicKey string `yaml:"public_key"`
	// StateDir holds the job state (to continue a job after a restart)
	// and the job reports. Default: edgecache-fill in the parent directory
	// of the first disk; required when Manifest is set without a disk
	// tier.
	StateDir string `yaml:"state_dir"`
	// Reports is how many job reports are kept, 1..10000. Default 10.
	Reports int `yaml:"reports"`
}

// Limits of the fill section.
const (
	maxFillConcurrency = 1024
	maxFillReports     = 10000
)

// defaultFill is the default fill section.
func defaultFill() Fill {
	return Fill{Timezone: "UTC", Concurrency: fill.DefaultConcurrency, Reports: fill.DefaultReports}
}

// FillEnabled reports whether the daemon fills: fill.manifest or
// fill.state_dir is set.
func (c *Config) FillEnabled() bool {
	return c.Fill.Manifest != "" || c.Fill.StateDir != ""
}

// FillStateDir returns fill.state_dir, or its default: edgecache-fill in
// the parent directory of the first disk; "" if neither is set.
func (c *Config) FillStateDir() string {
	if c.Fill.StateDir != "" || len(c.Cache.Disks) == 0 {
		return c.Fill.StateDir
	}
	return filepath.Join(filepath.Dir(filepath.Clean(c.Cache.Disks[0].Path)), "edgecache-fill")
}

// IsManifestURL reports whether a fill manifest source names an http://
// or https:// URL (else it is a file path).
func IsManifestURL(src string) bool {
	return strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://")
}

// fill checks the fill section.
func (k *checker) fill(c *Config) {
	f := &c.Fill
	switch {
	case IsManifestURL(f.Manifest):
		if u, err := url.Parse(f.Manifest); err != nil || u.Hostname() == "" {
			k.fail("fill.manifest", f.Manifest, "%q is not a URL with a host", f.Manifest)
		}
	case strings.Contains(f.Manifest, "://"):
		k.fail("fill.manifest", f.Manifest, "%q: want a file path or an http:// or https:// URL", f.Manifest)
	}
	if f.Manifest != "" && f.StateDir == "" && len(c.Cache.Disks) == 0 {
		k.fail("fill.manifest", f.Manifest,
			"is set, but fill.state_dir is not and there is no disk tier to put it next to: set fill.state_dir (where job state and reports are kept)")
	}
	tzOK := true
	if f.Timezone == "" {
		k.fail("fill.timezone", f.Timezone, "is empty: want an IANA time zone, e.g. UTC or Europe/Berlin, or Local")
		tzOK = false
	} else if _, err := fill.ParseWindow("00:00-01:00", f.Timezone); err != nil {
		k.fail("fill.timezone", f.Timezone, "%q is not a time zone this machine knows (want an IANA name, e.g. UTC or Europe/Berlin, or Local)", f.Timezone)
		tzOK = false
	}
	if f.Window != "" {
		if tzOK {
			if _, err := fill.ParseWindow(f.Window, f.Timezone); err != nil {
				k.fail("fill.window", f.Window, "%v", err)
			}
		}
		if f.Manifest == "" {
			k.fail("fill.window", f.Window, "is set, but fill.manifest is not: a window fills the configured manifest")
		}
	}
	if f.Rate < 0 {
		k.fail("fill.rate", f.Rate, "must be >= 0 bytes per second (0: no cap), got %s", f.Rate)
	}
	k.intRange("fill.concurrency", f.Concurrency, 1, maxFillConcurrency)
	if f.PublicKey != "" {
		if _, err := fill.ParsePublicKey(f.PublicKey); err != nil {
			k.fail("fill.public_key", f.PublicKey, "%v", err)
		}
	}
	k.intRange("fill.reports", f.Reports, 1, maxFillReports)
}

// String renders the fill section's schedule for logs: "02:00-06:00 UTC",
// or "none".
func (f Fill) String() string {
	if f.Window == "" {
		return "none"
	}
	return fmt.Sprintf("%s %s", f.Window, f.Timezone)
}
