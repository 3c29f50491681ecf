package config

import (
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"edgecache/origin"
)

// Config is the whole configuration of the edgecache daemon. The zero
// value is not useful: start from Default, Load or Parse.
type Config struct {
	// Listen is the content listener's address, host:port. Default ":8080".
	Listen string `yaml:"listen"`
	// Origin is how the cache talks to the origin server, and the
	// defaults of every upstream.
	Origin Origin `yaml:"origin"`
	// Upstreams are the upstreams asked before the origin, in order:
	// parent caches or sibling boxes. Default: none.
	Upstreams []Upstream `yaml:"upstreams"`
	// Cache is the cache store.
	Cache Cache `yaml:"cache"`
	// Server is the client-facing HTTP server.
	Server Server `yaml:"server"`
	// Log is the daemon's log output.
	Log Log `yaml:"log"`
	// Admin is the admin listener: metrics, health, stats, purge.
	Admin Admin `yaml:"admin"`
	// Fill is filling the cache ahead of demand from a manifest.
	Fill Fill `yaml:"fill"`

	// file is the name the config was parsed from ("" for Default).
	file string
	// lines maps the dotted path of every field set from the file to the
	// line of its key (of its item, for list elements).
	lines map[string]int
	// vals holds the value of every leaf field as parsed, so that Validate
	// only points into the file for values that were not changed since.
	vals map[string]any
}

// Origin configures the connection to the origin server.
type Origin struct {
	// URL is the origin's base URL: http or https, with a host, without a
	// query or fragment. Required; there is no default.
	URL string `yaml:"url"`
	// ConnectTimeout bounds establishing a connection (TCP and TLS) to
	// the origin. Default 3s.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// FirstByteTimeout bounds the wait for the first byte of the origin's
	// response after sending a request. Default 15s.
	FirstByteTimeout Duration `yaml:"first_byte_timeout"`
	// IdleTimeout bounds how long an idle keep-alive connection to the
	// origin is kept, and how long a response body may stall. Default 15s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConns is the most connections open to the origin at once,
	// 1..65536. Default 512.
	MaxConns int `yaml:"max_conns"`
	// MaxInFlight is the most fetches in flight to the origin at once,
	// 1..65536; more wait in its queue. Default 256.
	MaxInFlight int `yaml:"max_in_flight"`
	// QueueLength is the most fetches waiting for an in-flight slot,
	// 0..1000000; past it a miss is answered 503 with Retry-After.
	// Default 1024.
	QueueLength int `yaml:"queue_length"`
	// QueueWait is the longest a fetch waits in the queue before it is
	// answered 503. Default 5s.
	QueueWait Duration `yaml:"queue_wait"`
	// RequestDeadline bounds one miss across every upstream it tries, up
	// to the answer's headers. Default 30s.
	RequestDeadline Duration `yaml:"request_deadline"`
	// RetryBackoff is the base of the jittered pause before the next
	// upstream is tried (doubled each time); 0: none. Default 50ms.
	RetryBackoff Duration `yaml:"retry_backoff"`
	// Breaker is the origin's circuit breaker, and the default of every
	// upstream's.
	Breaker Breaker `yaml:"breaker"`
	// Health configures health probes of the origin, and the default of
	// every upstream's.
	Health Health `yaml:"health"`
}

// Upstream is one upstream asked before the origin. A field left out (or
// 0) takes the origin's value (origin.*).
type Upstream struct {
	// Name names it in logs and metrics. Default: its URL.
	Name string `yaml:"name"`
	// URL is its base URL, as origin.url. Required.
	URL string `yaml:"url"`
	// ConnectTimeout: see origin.connect_timeout.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// FirstByteTimeout: see origin.first_byte_timeout.
	FirstByteTimeout Duration `yaml:"first_byte_timeout"`
	// IdleTimeout: see origin.idle_timeout.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MaxConns: see origin.max_conns.
	MaxConns int `yaml:"max_conns"`
	// MaxInFlight: see origin.max_in_flight.
	MaxInFlight int `yaml:"max_in_flight"`
	// QueueLength: see origin.queue_length.
	QueueLength int `yaml:"queue_length"`
	// QueueWait: see origin.queue_wait.
	QueueWait Duration `yaml:"queue_wait"`
	// Breaker: see origin.breaker; each field left out is the origin's.
	Breaker Breaker `yaml:"breaker"`
	// Health: see origin.health; each field left out is the origin's.
	Health Health `yaml:"health"`
}

// Breaker configures a circuit breaker: it opens after Failures failures
// in a row or FailureRatio of the requests in Window, refuses traffic for
// CoolDown, then lets HalfOpenProbes probes through, which close it.
type Breaker struct {
	// Failures in a row that open it, 0..1000000; 0: never on a count.
	// Default 5.
	Failures int `yaml:"failures"`
	// FailureRatio of the requests in Window that opens it, 0..1; 0:
	// never on a ratio. Default 0.5.
	FailureRatio float64 `yaml:"failure_ratio"`
	// Window is the sliding window of FailureRatio. Default 10s.
	Window Duration `yaml:"window"`
	// MinRequests is the fewest requests in Window for FailureRatio to
	// apply, >= 1. Default 20.
	MinRequests int `yaml:"min_requests"`
	// SlowThreshold makes an answer whose headers took longer a failure;
	// 0: latency is not judged. Default 0.
	SlowThreshold Duration `yaml:"slow_threshold"`
	// CoolDown is how long it stays open. Default 10s.
	CoolDown Duration `yaml:"cool_down"`
	// HalfOpenProbes is how many probes it lets through at once when the
	// cool-down ends, and how many must succeed to close it, 1..1000.
	// Default 1.
	HalfOpenProbes int `yaml:"half_open_probes"`
}

// Health configures health probes: a GET of the first byte of Path every
// Interval, whose failures and successes feed the circuit breaker.
type Health struct {
	// Path is what is fetched, an absolute path; "" (the default): no
	// probes.
	Path string `yaml:"path"`
	// Interval is the period of the probes. Default 5s.
	Interval Duration `yaml:"interval"`
}

// Cache configures the cache store.
type Cache struct {
	// ChunkSize is the unit objects are fetched and stored in,
	// 64KiB..64MiB. Default 256KiB.
	ChunkSize Size `yaml:"chunk_size"`
	// Memory is the size of the memory tier; at least 4 × ChunkSize.
	// Default 512MiB.
	Memory Size `yaml:"memory"`
	// NegativeTTL is how long an origin status answer that is cacheable by
	// default (404, 410, 301, ...) and carries no explicit freshness is
	// remembered; 0 disables it. Default 10s.
	NegativeTTL Duration `yaml:"negative_ttl"`
	// DefaultTTL is the freshness lifetime of a response about whose
	// freshness the origin said nothing (no max-age, s-maxage, Expires) and
	// that has no Last-Modified for a heuristic. Default 0: such a response
	// is stored but revalidated on every use, as RFC 9111 expects of a cache
	// that is not told otherwise.
	DefaultTTL Duration `yaml:"default_ttl"`
	// MaxStaleWhileRevalidate caps the stale-while-revalidate a response
	// asks for (RFC 5861): how long past expiry it is served while it is
	// revalidated in the background. 0 disables it. Default 10m.
	MaxStaleWhileRevalidate Duration `yaml:"max_stale_while_revalidate"`
	// MaxStaleIfError caps the stale-if-error a response asks for (RFC
	// 5861) and ServeStaleOnError: how long past expiry it is served when
	// the origin fails. 0 disables it. Default 24h.
	MaxStaleIfError Duration `yaml:"max_stale_if_error"`
	// TTLOverrides replace the freshness lifetime the origin gives the
	// objects whose key starts with Prefix (the longest matching prefix
	// wins), for operators who know better than their origin (a live
	// playlist sent with a day's max-age, say). They never make storable
	// what may not be stored (no-store, private, ...). Default: none.
	TTLOverrides []TTLOverride `yaml:"ttl_overrides"`
	// ServeStaleOnError is how long past expiry a response that says
	// nothing of stale-if-error is served when the origin fails (RFC 9111
	// §4.2.4), unless it forbids it (must-revalidate, no-cache, s-maxage).
	// Default 0: not at all.
	ServeStaleOnError Duration `yaml:"serve_stale_on_error"`
	// KeyQueryParams, if not empty, names the only query parameters that
	// are part of the cache key (and of the origin request, which is built
	// from the key), sorted; all others are dropped. Names are non-empty and
	// contain no '&', '=' or whitespace. Default: none, that is the whole
	// query is part of the key, in the order sent.
	KeyQueryParams []string `yaml:"key_query_params"`
	// KeyIgnoreQueryParams names query parameters that are left out of the
	// cache key, and so of the origin request (signed-URL tokens); the
	// others stay, in the order sent. Names as for KeyQueryParams; setting
	// both lists is an error. Default: none.
	KeyIgnoreQueryParams []string `yaml:"key_ignore_query_params"`
	// Policy is the replacement policy of the memory tier and of each
	// disk: lru, 2q, arc, s3fifo or tinylfu. Default lru.
	Policy string `yaml:"policy"`
	// Disks are the disk tier's cache directories, one per physical disk,
	// each with its byte budget. Default: none (memory only).
	Disks []Disk `yaml:"disks"`
	// DiskStateFile records the disks taken out of service after I/O
	// errors, so they stay out across restarts until cleared with
	// "edgecache disk clear". Default: edgecache-disks.state in the parent
	// directory of the first disk.
	DiskStateFile string `yaml:"disk_state_file"`
	// DiskSecondMiss writes a chunk fetched from the origin to the disk
	// tier only on its second miss lately (the first stays in memory), so
	// one-off views of the catalogue's tail do not evict what players read
	// again or what a fill put there. Default false: every fetched chunk
	// is written.
	DiskSecondMiss bool `yaml:"disk_second_miss"`
	// Fsync is when chunk files are flushed to stable storage: "none"
	// (default; a crash may lose the last seconds of writes, never exposes a
	// torn chunk) or "always" (fsync every chunk file and its directory
	// before it becomes visible).
	Fsync string `yaml:"fsync"`
	// DiskQueue is the most bytes of fetched chunks waiting to be written
	// to the disk tier; past it a chunk is not written (counted and
	// logged). A value below 4 × ChunkSize is raised to it. Default 64MiB.
	DiskQueue Size `yaml:"disk_queue"`
	// FetchMemory is the most bytes of chunk buffers that origin fetches
	// in progress may hold; a fetch past it waits. A value below one
	// chunk is raised to it. Default 64MiB.
	FetchMemory Size `yaml:"fetch_memory"`
	// ScrubRate is the rate, in bytes per second, at which every chunk on
	// disk is read back and its checksum verified in the background; 0
	// disables the scrubber. Default 8MiB.
	ScrubRate Size `yaml:"scrub_rate"`
	// DiskCheckInterval is how often each cache directory is checked to
	// still be the one opened at start (device and inode of the directory
	// and its lock file; a mount point when require_mount is set).
	// Default 10s.
	DiskCheckInterval Duration `yaml:"disk_check_interval"`
	// OpenFiles is how many verified chunk files of the disk tier are
	// kept open between hits (the fd cache), so that a disk hit opens and
	// reads no header; at most a quarter of the process's open file limit
	// (RLIMIT_NOFILE) is used. 0 disables the cache. Default 4096.
	OpenFiles int `yaml:"open_files"`
}

// Policies are the names cache.policy accepts: those of package
// edgecache/cache/policy (a test keeps the two lists equal).
var Policies = []string{"lru", "2q", "arc", "s3fifo", "tinylfu"}

// Disk is one cache directory of the disk tier.
type Disk struct {
	// Path is the directory; it must exist and be writable at start.
	Path string `yaml:"path"`
	// Size is the byte budget of the directory, as the OS counts usage.
	Size Size `yaml:"size"`
	// Optional makes a missing or unwritable directory at start a logged
	// warning instead of a start-up error.
	Optional bool `yaml:"optional"`
	// RequireMount refuses a directory that is not a mount point (at start,
	// and takes it out of service if it stops being one), so an unmounted
	// disk never fills the root file system.
	RequireMount bool `yaml:"require_mount"`
}

// TTLOverride sets the freshness lifetime of the objects under a prefix.
type TTLOverride struct {
	// Prefix is matched against the cache key (normalized path and kept
	// query); it starts with "/".
	Prefix string `yaml:"prefix"`
	// TTL is the freshness lifetime given to them, >= 0 (0: revalidated
	// on every request).
	TTL Duration `yaml:"ttl"`
}

// Server configures the client-facing HTTP server.
type Server struct {
	// ReadTimeout bounds reading one request's headers. Default 30s.
	ReadTimeout Duration `yaml:"read_timeout"`
	// IdleTimeout bounds how long a keep-alive connection waits for the
	// next request. Default 120s.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// MinSendRate is the slowest a client may read, in bytes per second:
	// a response's write deadline is 10s + size/MinSendRate. Default 64KiB.
	MinSendRate Size `yaml:"min_send_rate"`
	// MaxPathLength is the longest request path served, and the longest
	// cache key (normalized path and kept query), 1..65536; longer ones get
	// 400. Default 4096.
	MaxPathLength int `yaml:"max_path_length"`
	// SendBuffer is the socket send buffer (SO_SNDBUF) of client
	// connections, 4KiB..64MiB, or 0 for the kernel's autotuning. Default
	// 256KiB (the kernel doubles it). It caps one connection at about
	// 512 KiB per round trip; autotuned multi-megabyte buffers doubled
	// the CPU of a disk hit sent with sendfile (peers harness, HIT-1M).
	SendBuffer Size `yaml:"send_buffer"`
	// SendLowat is TCP_NOTSENT_LOWAT of client connections (Linux only;
	// ignored elsewhere), 4KiB..64MiB, or 0 for the kernel's default: a
	// write waits once this many bytes of the connection are queued and
	// not yet sent, however large the send buffer. Connections served at
	// once then take turns without a cap on any one's bytes in flight.
	// Default 64KiB.
	SendLowat Size `yaml:"send_lowat"`
	// MaxRanges is the most ranges served in one multi-range request,
	// 1..1024; a request with more gets the full object (200). Default 16.
	MaxRanges int `yaml:"max_ranges"`
	// MaxConnections is the most client connections served at once,
	// 1..1000000; past it a new connection gets 503 and is closed.
	// Default 10000.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerIP is the most client connections open at once
	// from one client address (an IPv6 client by its /64), 0..1000000;
	// past it a new connection gets 429 and is closed before its request
	// is read. 0: no cap. Default 1000. A reload applies it to new
	// connections.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip"`
	// MaxRangeFetchChunks is the most uncached chunks a multi-range
	// request may have the cache fetch and store, 1..1024; past it the
	// request's parts come from the origin as exact byte ranges, not
	// stored. Default 4.
	MaxRangeFetchChunks int `yaml:"max_range_fetch_chunks"`
	// ShutdownTimeout is how long SIGTERM or SIGINT lets the responses in
	// progress finish before their connections are closed. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// Name is this box's name in the Via field of its upstream requests
	// (RFC 9110 §7.6.3): a request whose Via already names it has gone
	// round a loop of caches and is answered 508. Letters, digits and
	// "-._:". Default "": the host name and the listen port (or the
	// process id, when the port is 0).
	Name string `yaml:"name"`
}

// Log configures logging.
type Log struct {
	// Level is the least severe level logged: debug, info, warn or error.
	// Default info.
	Level string `yaml:"level"`
	// Format is the log line format: text or json. Default text.
	Format string `yaml:"format"`
	// Access is the file the access log is appended to, one JSON line per
	// response (see package server, AccessLog); reopened on SIGHUP. Empty
	// (the default): no access log.
	Access string `yaml:"access"`
}

// Admin configures the admin listener.
type Admin struct {
	// Listen is the admin listener's address, host:port. Default
	// "127.0.0.1:9090". An address that is not loopback requires TokenFile.
	Listen string `yaml:"listen"`
	// TokenFile names a file holding the bearer token every admin request
	// must carry (Authorization: Bearer TOKEN); surrounding whitespace is
	// ignored. Reread on SIGHUP. Required when Listen is not a loopback
	// address; optional (then also required of requests) on loopback.
	TokenFile string `yaml:"token_file"`
}

// Limits enforced by Validate.
const (
	minChunkSize     = 64 * KiB // smallest Cache.ChunkSize
	maxChunkSize     = 64 * MiB // largest Cache.ChunkSize
	minMemoryChunks  = 4        // Cache.Memory must hold this many chunks
	minDiskChunks    = 16       // each Disk.Size must hold this many chunks
	maxOriginConns   = 65536    // largest Origin.MaxConns
	maxPathLengthMax = 65536    // largest Server.MaxPathLength
	maxRangesMax     = 1024     // largest Server.MaxRanges

	maxConnections      = 1000000 // largest Server.MaxConnections
	maxRangeFetchChunks = 1024    // largest Server.MaxRangeFetchChunks
)

// Default returns a configuration with every default filled in. Origin.URL,
// which has no default, is empty, so it does not validate as is.
func Default() *Config {
	return &Config{
		Listen: ":8080",
		Origin: Origin{
			ConnectTimeout:   Duration(3 * time.Second),
			FirstByteTimeout: Duration(15 * time.Second),
			IdleTimeout:      Duration(15 * time.Second),
			MaxConns:         512,
			MaxInFlight:      256,
			QueueLength:      1024,
			QueueWait:        Duration(5 * time.Second),
			RequestDeadline:  Duration(30 * time.Second),
			RetryBackoff:     Duration(50 * time.Millisecond),
			Breaker: Breaker{Failures: 5, FailureRatio: 0.5, Window: Duration(10 * time.Second),
				MinRequests: 20, CoolDown: Duration(10 * time.Second), HalfOpenProbes: 1},
			Health: Health{Interval: Duration(5 * time.Second)},
		},
		Upstreams: []Upstream{},
		Cache: Cache{
			ChunkSize:   256 * KiB,
			Memory:      512 * MiB,
			NegativeTTL: Duration(10 * time.Second),
			DefaultTTL:  0,

			MaxStaleWhileRevalidate: Duration(10 * time.Minute),
			MaxStaleIfError:         Duration(24 * time.Hour),
			KeyQueryParams:          []string{},
			Policy:                  "lru",
			Disks:                   []Disk{},
			TTLOverrides:            []TTLOverride{},
			Fsync:                   "none",
			DiskQueue:               64 * MiB,
			FetchMemory:             64 * MiB,
			ScrubRate:               8 * MiB,

			KeyIgnoreQueryParams: []string{},
			DiskCheckInterval:    Duration(10 * time.Second),
			OpenFiles:            4096,
		},
		Server: Server{
			ReadTimeout:   Duration(30 * time.Second),
			IdleTimeout:   Duration(120 * time.Second),
			MinSendRate:   64 * KiB,
			MaxPathLength: 4096,
			SendBuffer:    256 * KiB,
			SendLowat:     64 * KiB,
			MaxRanges:     16,

			MaxConnections:      10000,
			MaxConnectionsPerIP: 1000,
			MaxRangeFetchChunks: 4,
			ShutdownTimeout:     Duration(30 * time.Second),
		},
		Log:   Log{Level: "info", Format: "text"},
		Admin: Admin{Listen: "127.0.0.1:9090"},
		Fill:  defaultFill(),
	}
}

// Load reads the YAML file at path and returns Parse(path, data). An error
// reading the file is returned as is (an *fs.PathError).
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes data, a YAML document, over Default() and validates the
// result; name (usually the file name) is used in error messages.
//
// Every error found is returned, as Errors sorted by line. If the document
// does not decode (syntax error, unknown field, wrong type, duplicate key,
// malformed value) the Config is nil. If it decodes but fails validation,
// Parse returns both the Config and the errors, so a caller may fix fields
// (e.g. from command-line flags) and call Validate again.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	d := decodeYAML(name, data, c)
	c.file, c.lines = name, d.lines
	c.vals = map[string]any{}
	snapshot(reflect.ValueOf(c).Elem(), "", c.vals)
	errs := append(d.errs, c.check(d.isBad)...)
	sortErrors(errs)
	switch {
	case len(d.errs) > 0:
		return nil, errs
	case len(errs) > 0:
		return c, errs
	}
	return c, nil
}

// Validate checks the values: ranges, origin.url, chunk_size against
// memory, the log level and format. It returns nil or Errors. An error
// about a value that came from the file names its file and line; one about
// a value set since (or never from a file) has neither.
func (c *Config) Validate() error {
	if errs := c.check(nil); len(errs) > 0 {
		return errs
	}
	return nil
}

// check runs every semantic check and returns the errors found. Checks
// involving a field for which bad (if not nil) is true are skipped: that
// field failed to decode and holds its default, not what the file says.
func (c *Config) check(bad func(path string) bool) Errors {
	k := &checker{c: c, bad: bad}
	k.listen("listen", c.Listen)

	o := &c.Origin
	if o.URL != "" || len(c.Upstreams) == 0 {
		k.originURL("origin.url", o.URL)
	}
	k.positive("origin.connect_timeout", o.ConnectTimeout)
	k.positive("origin.first_byte_timeout", o.FirstByteTimeout)
	k.positive("origin.idle_timeout", o.IdleTimeout)
	k.intRange("origin.max_conns", o.MaxConns, 1, maxOriginConns)
	k.upstreams(c)

	ca := &c.Cache
	chunkOK := k.sizeRange("cache.chunk_size", ca.ChunkSize, minChunkSize, maxChunkSize)
	if chunkOK && !k.skip("cache.chunk_size") && ca.Memory/minMemoryChunks < ca.ChunkSize {
		k.fail("cache.memory", ca.Memory, "%s is less than %d × chunk_size (%s): want at least %s",
			ca.Memory, minMemoryChunks, ca.ChunkSize, minMemoryChunks*ca.ChunkSize)
	}
	if ca.NegativeTTL < 0 {
		k.fail("cache.negative_ttl", ca.NegativeTTL, "must be >= 0 (0 disables), got %s", ca.NegativeTTL)
	}
	if ca.DefaultTTL < 0 {
		k.fail("cache.default_ttl", ca.DefaultTTL, "must be >= 0, got %s", ca.DefaultTTL)
	}
	for _, d := range []struct {
		field string
		v     Duration
	}{{"cache.max_stale_while_revalidate", ca.MaxStaleWhileRevalidate}, {"cache.max_stale_if_error", ca.MaxStaleIfError}, {"cache.serve_stale_on_error", ca.ServeStaleOnError}} {
		if d.v < 0 {
			k.fail(d.field, d.v, "must be >= 0 (0 disables), got %s", d.v)
		}
	}
	k.queryParams("cache.key_query_params", ca.KeyQueryParams)
	k.queryParams("cache.key_ignore_query_params", ca.KeyIgnoreQueryParams)
	if len(ca.KeyQueryParams) > 0 && len(ca.KeyIgnoreQueryParams) > 0 {
		k.fail("cache.key_ignore_query_params", ca.KeyIgnoreQueryParams,
			"cannot be set together with cache.key_query_params: name the parameters to leave out of the key, or the only ones to keep, not both")
	}

	seen := map[string]bool{}
	for i, d := range ca.Disks {
		path := fmt.Sprintf("cache.disks[%d]", i)
		switch {
		case d.Path == "":
			k.fail(path+".path", d.Path, "is empty: want the cache directory")
		case seen[d.Path]:
			k.fail(path+".path", d.Path, "%q is listed twice", d.Path)
		}
		seen[d.Path] = true
		if d.Size < minDiskChunks*ca.ChunkSize {
			k.fail(path+".size", d.Size, "%s is less than %d × chunk_size: want at least %s",
				d.Size, minDiskChunks, minDiskChunks*ca.ChunkSize)
		}
	}
	if !slices.Contains(Policies, ca.Policy) {
		k.fail("cache.policy", ca.Policy, "%q is not a policy (want one of %s)", ca.Policy, strings.Join(Policies, ", "))
	}
	switch ca.Fsync {
	case "none", "always":
	default:
		k.fail("cache.fsync", ca.Fsync, "%q is not an fsync policy (want none or always)", ca.Fsync)
	}
	if ca.DiskQueue <= 0 {
		k.fail("cache.disk_queue", ca.DiskQueue, "must be > 0, got %s", ca.DiskQueue)
	}
	if ca.FetchMemory <= 0 {
		k.fail("cache.fetch_memory", ca.FetchMemory, "must be > 0, got %s", ca.FetchMemory)
	}
	prefixes := map[string]bool{}
	for i, o := range ca.TTLOverrides {
		path := fmt.Sprintf("cache.ttl_overrides[%d]", i)
		switch {
		case !strings.HasPrefix(o.Prefix, "/"):
			k.fail(path+".prefix", o.Prefix, "%q does not start with \"/\"", o.Prefix)
		case prefixes[o.Prefix]:
			k.fail(path+".prefix", o.Prefix, "%q is listed twice", o.Prefix)
		}
		prefixes[o.Prefix] = true
		if o.TTL < 0 {
			k.fail(path+".ttl", o.TTL, "must be >= 0, got %s", o.TTL)
		}
	}
	if ca.ScrubRate < 0 {
		k.fail("cache.scrub_rate", ca.ScrubRate, "must be >= 0 bytes per second (0 disables), got %s", ca.ScrubRate)
	}
	k.positive("cache.disk_check_interval", ca.DiskCheckInterval)
	if ca.OpenFiles < 0 {
		k.fail("cache.open_files", ca.OpenFiles, "must be >= 0 files (0 disables the cache of open chunk files), got %d", ca.OpenFiles)
	}

	s := &c.Server
	k.positive("server.read_timeout", s.ReadTimeout)
	k.positive("server.idle_timeout", s.IdleTimeout)
	if s.MinSendRate <= 0 {
		k.fail("server.min_send_rate", s.MinSendRate, "must be > 0 (bytes per second), got %s", s.MinSendRate)
	}
	k.intRange("server.max_path_length", s.MaxPathLength, 1, maxPathLengthMax)
	k.intRange("server.max_ranges", s.MaxRanges, 1, maxRangesMax)
	k.intRange("server.max_connections", s.MaxConnections, 1, maxConnections)
	k.intRange("server.max_connections_per_ip", s.MaxConnectionsPerIP, 0, maxConnections)
	k.intRange("server.max_range_fetch_chunks", s.MaxRangeFetchChunks, 1, maxRangeFetchChunks)
	if s.Name != "" && strings.TrimFunc(s.Name, viaNameRune) != "" {
		k.fail("server.name", s.Name, "%q is not a name for Via (want letters, digits and -._: only)", s.Name)
	}
	if s.SendBuffer != 0 && (s.SendBuffer < 4*KiB || s.SendBuffer > 64*MiB) {
		k.fail("server.send_buffer", s.SendBuffer, "%s is not 0 (the kernel's autotuning) or in 4KiB..64MiB", s.SendBuffer)
	}
	if s.SendLowat != 0 && (s.SendLowat < 4*KiB || s.SendLowat > 64*MiB) {
		k.fail("server.send_lowat", s.SendLowat, "%s is not 0 (the kernel's default) or in 4KiB..64MiB", s.SendLowat)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		k.fail("log.level", c.Log.Level, "%q is not a log level (want debug, info, warn or error)", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		k.fail("log.format", c.Log.Format, "%q is not a log format (want text or json)", c.Log.Format)
	}
	k.positive("server.shutdown_timeout", s.ShutdownTimeout)

	k.listen("admin.listen", c.Admin.Listen)
	if c.Admin.Listen != "" && c.Admin.TokenFile == "" && !LoopbackAddr(c.Admin.Listen) {
		k.fail("admin.listen", c.Admin.Listen,
			"%q is not a loopback address: set admin.token_file, the file holding the bearer token admin requests must carry, or listen on 127.0.0.1", c.Admin.Listen)
	}
	k.fill(c)
	return k.errs
}

// checker collects the errors of check.
type checker struct {
	c    *Config
	bad  func(path string) bool
	errs Errors
}

// skip reports whether errors about the field at path are left out.
func (k *checker) skip(path string) bool {
	return k.bad != nil && k.bad(path)
}

// fail records an error about the field at path, whose current value is
// cur (for a list element: the whole list).
func (k *checker) fail(path string, cur any, format string, args ...any) {
	if k.skip(path) {
		return
	}
	file, line := k.c.where(path, cur)
	k.errs = append(k.errs, &Error{File: file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

func (k *checker) positive(path string, d Duration) {
	if d <= 0 {
		k.fail(path, d, "must be > 0, got %s", d)
	}
}

func (k *checker) intRange(path string, n, lo, hi int) {
	if n < lo || n > hi {
		k.fail(path, n, "%d is out of range (%d..%d)", n, lo, hi)
	}
}

func (k *checker) sizeRange(path string, s, lo, hi Size) bool {
	if s < lo || s > hi {
		k.fail(path, s, "%s is out of range (%s..%s)", s, lo, hi)
		return false
	}
	return true
}

// queryParams checks a list of query parameter names.
func (k *checker) queryParams(path string, names []string) {
	for i, p := range names {
		if p == "" || strings.ContainsAny(p, "&=") || strings.IndexFunc(p, unicode.IsSpace) >= 0 {
			k.fail(fmt.Sprintf("%s[%d]", path, i), names,
				"%q is not a query parameter name (want non-empty, without '&', '=' or whitespace)", p)
		}
	}
}

func (k *checker) listen(path, addr string) {
	if addr == "" {
		k.fail(path, addr, "required (want host:port, e.g. :8080 or 127.0.0.1:8080)")
		return
	}
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		k.fail(path, addr, "%q is not a listen address (want host:port, e.g. :8080 or 127.0.0.1:8080)", addr)
	}
}

// LoopbackAddr reports whether the listen address addr (host:port) binds
// only loopback interfaces: an IP literal in 127.0.0.0/8 or ::1, or
// "localhost". An empty host (every interface) and any other name are not.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (k *checker) originURL(path, raw string) {
	if raw == "" {
		k.fail(path, raw, "required: the origin's base URL, e.g. http://origin.example.com")
		return
	}
	if _, err := origin.ParseBaseURL(raw); err != nil {
		k.fail(path, raw, "%v", err)
	}
}

// where returns the file and line to report for the field at path whose
// current value is cur: those of the file when the value still is the one
// parsed from it, none otherwise.
func (c *Config) where(path string, cur any) (string, int) {
	key := path
	if _, ok := c.vals[key]; !ok {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			key = key[:i]
		}
	}
	v, ok := c.vals[key]
	if !ok || !reflect.DeepEqual(v, cur) {
		return "", 0
	}
	return c.file, c.lines[path]
}

// snapshot records in out a copy of every leaf field of v, by dotted path.
// Lists of mappings are recorded whole and element by element.
func snapshot(v reflect.Value, path string, out map[string]any) {
	t := v.Type()
	switch {
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
	case t.Kind() == reflect.Struct:
		fs := fieldsOf(t)
		for _, name := range fs.names {
			snapshot(v.Field(fs.index[name]), join(path, name), out)
		}
		return
	case t.Kind() == reflect.Slice:
		c := reflect.MakeSlice(t, v.Len(), v.Len())
		reflect.Copy(c, v)
		if v.IsNil() {
			c = reflect.Zero(t)
		}
		out[path] = c.Interface()
		if t.Elem().Kind() == reflect.Struct {
			for i := range v.Len() {
				snapshot(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
			}
		}
		return
	}
	out[path] = v.Interface()
}
