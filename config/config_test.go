package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"edgecache/cache/policy"
	"edgecache/origin"
)

// exported returns a copy of c without its unexported bookkeeping.
func exported(c *Config) Config {
	return Config{Listen: c.Listen, Origin: c.Origin, Upstreams: c.Upstreams, Cache: c.Cache, Server: c.Server, Log: c.Log, Admin: c.Admin, Fill: c.Fill}
}

func TestDefault(t *testing.T) {
	c := Default()
	want := Config{
		Listen: ":8080",
		Origin: Origin{ConnectTimeout: Duration(3 * time.Second), FirstByteTimeout: Duration(15 * time.Second),
			IdleTimeout: Duration(15 * time.Second), MaxConns: 512,
			MaxInFlight: 256, QueueLength: 1024, QueueWait: Duration(5 * time.Second),
			RequestDeadline: Duration(30 * time.Second), RetryBackoff: Duration(50 * time.Millisecond),
			Breaker: Breaker{Failures: 5, FailureRatio: 0.5, Window: Duration(10 * time.Second), MinRequests: 20,
				CoolDown: Duration(10 * time.Second), HalfOpenProbes: 1},
			Health: Health{Interval: Duration(5 * time.Second)}},
		Upstreams: []Upstream{},
		Cache: Cache{ChunkSize: 256 * KiB, Memory: 512 * MiB, NegativeTTL: Duration(10 * time.Second),
			DefaultTTL: 0, MaxStaleWhileRevalidate: Duration(10 * time.Minute), MaxStaleIfError: Duration(24 * time.Hour), KeyQueryParams: []string{}, Policy: "lru", Disks: []Disk{}, TTLOverrides: []TTLOverride{}, Fsync: "none",
			DiskQueue: 64 * MiB, FetchMemory: 64 * MiB, ScrubRate: 8 * MiB, DiskCheckInterval: Duration(10 * time.Second),
			KeyIgnoreQueryParams: []string{}, OpenFiles: 4096},
		Server: Server{ReadTimeout: Duration(30 * time.Second), IdleTimeout: Duration(120 * time.Second),
			MinSendRate: 64 * KiB, MaxPathLength: 4096, SendBuffer: 256 * KiB, SendLowat: 64 * KiB, MaxRanges: 16, MaxConnections: 10000, MaxConnectionsPerIP: 1000, MaxRangeFetchChunks: 4,
			ShutdownTimeout: Duration(30 * time.Second)},
		Log:   Log{Level: "info", Format: "text"},
		Admin: Admin{Listen: "127.0.0.1:9090"},
		Fill:  Fill{Timezone: "UTC", Concurrency: 4, Reports: 10},
	}
	if !reflect.DeepEqual(exported(c), want) {
		t.Errorf("Default() = %+v\nwant %+v", exported(c), want)
	}
	if c.Origin.URL != "" {
		t.Error("Origin.URL has a default")
	}
	err := c.Validate()
	if got := errLines(t, err); !reflect.DeepEqual(got, []string{"origin.url: required: the origin's base URL, e.g. http://origin.example.com"}) {
		t.Errorf("Default().Validate() = %q", got)
	}
	c.Origin.URL = "http://127.0.0.1:8081"
	if err := c.Validate(); err != nil {
		t.Errorf("defaults with a URL do not validate: %v", err)
	}
	// Each call returns a fresh value.
	Default().Cache.KeyQueryParams = append(Default().Cache.KeyQueryParams, "x")
	if len(Default().Cache.KeyQueryParams) != 0 {
		t.Error("Default shares state")
	}
}

func TestValidationRules(t *testing.T) {
	cases := []struct{ src, want string }{
		// listen
		{"listen: \"\"\n" + withURL, `f.yaml:1: listen: required (want host:port, e.g. :8080 or 127.0.0.1:8080)`},
		{"listen: \"8080\"\n" + withURL, `f.yaml:1: listen: "8080" is not a listen address (want host:port, e.g. :8080 or 127.0.0.1:8080)`},
		{"listen: \"host:\"\n" + withURL, `f.yaml:1: listen: "host:" is not a listen address (want host:port, e.g. :8080 or 127.0.0.1:8080)`},
		// origin.url
		{"origin:\n  url: \"\"\n", `f.yaml:2: origin.url: required: the origin's base URL, e.g. http://origin.example.com`},
		{"origin:\n  url: origin.example.com\n", `f.yaml:2: origin.url: "origin.example.com": want an http:// or https:// URL`},
		{"origin:\n  url: ftp://o\n", `f.yaml:2: origin.url: "ftp://o": want an http:// or https:// URL`},
		{"origin:\n  url: \"http://\"\n", `f.yaml:2: origin.url: "http://": no host`},
		{"origin:\n  url: \"http://:80\"\n", `f.yaml:2: origin.url: "http://:80": no host`},
		{"origin:\n  url: \"http:o\"\n", `f.yaml:2: origin.url: "http:o": no host`},
		{"origin:\n  url: \"http://o/?a=1\"\n", `f.yaml:2: origin.url: "http://o/?a=1": a query is not allowed`},
		{"origin:\n  url: \"http://o/?\"\n", `f.yaml:2: origin.url: "http://o/?": a query is not allowed`},
		{"origin:\n  url: \"http://o/#x\"\n", `f.yaml:2: origin.url: "http://o/#x": a fragment is not allowed`},
		{"origin:\n  url: \"http://o/#\"\n", `f.yaml:2: origin.url: "http://o/#": a fragment is not allowed`},
		{"origin:\n  url: \"http://o:port\"\n", `f.yaml:2: origin.url: "http://o:port": not a URL: invalid port ":port" after host`},
		{"origin:\n  url: \"http://o\\x7f\"\n", `f.yaml:2: origin.url: "http://o\x7f": not a URL: net/url: invalid control character in URL`},
		// origin timeouts and conns
		{withURL + "  connect_timeout: 0s\n", `f.yaml:3: origin.connect_timeout: must be > 0, got 0s`},
		{withURL + "  first_byte_timeout: -1s\n", `f.yaml:3: origin.first_byte_timeout: must be > 0, got -1s`},
		{withURL + "  idle_timeout: 0\n", `f.yaml:3: origin.idle_timeout: must be > 0, got 0s`},
		{withURL + "  max_conns: 0\n", `f.yaml:3: origin.max_conns: 0 is out of range (1..65536)`},
		{withURL + "  max_conns: 65537\n", `f.yaml:3: origin.max_conns: 65537 is out of range (1..65536)`},
		// cache
		{withURL + "cache:\n  chunk_size: 32KiB\n", `f.yaml:4: cache.chunk_size: 32KiB is out of range (64KiB..64MiB)`},
		{withURL + "cache:\n  chunk_size: 65537KiB\n  memory: 1TiB\n", `f.yaml:4: cache.chunk_size: 65537KiB is out of range (64KiB..64MiB)`},
		{withURL + "cache:\n  chunk_size: 0\n", `f.yaml:4: cache.chunk_size: 0B is out of range (64KiB..64MiB)`},
		{withURL + "cache:\n  chunk_size: 4MiB\n  memory: 15MiB\n", `f.yaml:5: cache.memory: 15MiB is less than 4 × chunk_size (4MiB): want at least 16MiB`},
		{withURL + "cache:\n  memory: 0\n", `f.yaml:4: cache.memory: 0B is less than 4 × chunk_size (256KiB): want at least 1MiB`},
		{withURL + "cache:\n  negative_ttl: -1s\n", `f.yaml:4: cache.negative_ttl: must be >= 0 (0 disables), got -1s`},
		{withURL + "cache:\n  default_ttl: -1s\n", `f.yaml:4: cache.default_ttl: must be >= 0, got -1s`},
		{withURL + "cache:\n  open_files: -1\n", `f.yaml:4: cache.open_files: must be >= 0 files (0 disables the cache of open chunk files), got -1`},
		{withURL + "cache:\n  key_query_params:\n    - v\n    - \"\"\n", `f.yaml:6: cache.key_query_params[1]: "" is not a query parameter name (want non-empty, without '&', '=' or whitespace)`},
		{withURL + "cache:\n  key_query_params: [a=b]\n", `f.yaml:4: cache.key_query_params[0]: "a=b" is not a query parameter name (want non-empty, without '&', '=' or whitespace)`},
		{withURL + "cache:\n  key_query_params: [a&b]\n", `f.yaml:4: cache.key_query_params[0]: "a&b" is not a query parameter name (want non-empty, without '&', '=' or whitespace)`},
		{withURL + "cache:\n  key_query_params: [\"a b\"]\n", `f.yaml:4: cache.key_query_params[0]: "a b" is not a query parameter name (want non-empty, without '&', '=' or whitespace)`},
		{withURL + "cache:\n  key_query_params: [\"a\\tb\"]\n", `f.yaml:4: cache.key_query_params[0]: "a\tb" is not a query parameter name (want non-empty, without '&', '=' or whitespace)`},
		{withURL + "cache:\n  key_ignore_query_params:\n    - token\n    - \"\"\n", `f.yaml:6: cache.key_ignore_query_params[1]: "" is not a query parameter name (want non-empty, without '&', '=' or whitespace)`},
		{withURL + "cache:\n  key_ignore_query_params: [sig=x]\n", `f.yaml:4: cache.key_ignore_query_params[0]: "sig=x" is not a query parameter name (want non-empty, without '&', '=' or whitespace)`},
		{withURL + "cache:\n  key_ignore_query_params: [\"a b\"]\n", `f.yaml:4: cache.key_ignore_query_params[0]: "a b" is not a query parameter name (want non-empty, without '&', '=' or whitespace)`},
		{withURL + "cache:\n  max_stale_if_error: -1s\n", `f.yaml:4: cache.max_stale_if_error: must be >= 0 (0 disables), got -1s`},
		{withURL + "cache:\n  ttl_overrides:\n    - prefix: live/\n      ttl: 2s\n", `f.yaml:5: cache.ttl_overrides[0].prefix: "live/" does not start with "/"`},
		{withURL + "cache:\n  ttl_overrides:\n    - {prefix: /a/, ttl: 1s}\n    - {prefix: /a/, ttl: 3s}\n", `f.yaml:6: cache.ttl_overrides[1].prefix: "/a/" is listed twice`},
		{withURL + "cache:\n  ttl_overrides:\n    - {prefix: /a/, ttl: -1s}\n", `f.yaml:5: cache.ttl_overrides[0].ttl: must be >= 0, got -1s`},
		// both query lists
		{withURL + "cache:\n  key_query_params: [v, quality]\n  key_ignore_query_params: [token]\n",
			`f.yaml:5: cache.key_ignore_query_params: cannot be set together with cache.key_query_params: name the parameters to leave out of the key, or the only ones to keep, not both`},
		{withURL + "cache:\n  key_ignore_query_params:\n    - token\n  key_query_params: [v]\n",
			`f.yaml:4: cache.key_ignore_query_params: cannot be set together with cache.key_query_params: name the parameters to leave out of the key, or the only ones to keep, not both`},
		// server
		{withURL + "server:\n  read_timeout: 0s\n", `f.yaml:4: server.read_timeout: must be > 0, got 0s`},
		{withURL + "server:\n  idle_timeout: -2m\n", `f.yaml:4: server.idle_timeout: must be > 0, got -2m`},
		{withURL + "server:\n  min_send_rate: 0\n", `f.yaml:4: server.min_send_rate: must be > 0 (bytes per second), got 0B`},
		{withURL + "server:\n  max_path_length: 0\n", `f.yaml:4: server.max_path_length: 0 is out of range (1..65536)`},
		{withURL + "server:\n  max_path_length: 65537\n", `f.yaml:4: server.max_path_length: 65537 is out of range (1..65536)`},
		{withURL + "server:\n  send_buffer: 1KiB\n", `f.yaml:4: server.send_buffer: 1KiB is not 0 (the kernel's autotuning) or in 4KiB..64MiB`},
		{withURL + "server:\n  send_lowat: 65MiB\n", `f.yaml:4: server.send_lowat: 65MiB is not 0 (the kernel's default) or in 4KiB..64MiB`},
		{withURL + "server:\n  max_ranges: 0\n", `f.yaml:4: server.max_ranges: 0 is out of range (1..1024)`},
		{withURL + "server:\n  max_ranges: 1025\n", `f.yaml:4: server.max_ranges: 1025 is out of range (1..1024)`},
		// log
		{withURL + "log:\n  level: verbose\n", `f.yaml:4: log.level: "verbose" is not a log level (want debug, info, warn or error)`},
		{withURL + "log:\n  level: INFO\n", `f.yaml:4: log.level: "INFO" is not a log level (want debug, info, warn or error)`},
		{withURL + "log:\n  format: xml\n", `f.yaml:4: log.format: "xml" is not a log format (want text or json)`},
	}
	for _, tc := range cases {
		cfg := wantErrors(t, tc.src, tc.want)
		if cfg == nil {
			t.Errorf("Parse(%q) returned no Config for a validation error", tc.src)
		}
	}
}

func TestValidBoundaries(t *testing.T) {
	srcs := []string{
		withURL + "  max_conns: 1\n",
		withURL + "  max_conns: 65536\n",
		"listen: \"127.0.0.1:0\"\n" + withURL,
		"listen: \"[::1]:http\"\n" + withURL,
		"origin:\n  url: HTTPS://Origin.Example:8443/base/path\n",
		withURL + "cache:\n  chunk_size: 64KiB\n  memory: 256KiB\n",
		withURL + "cache:\n  chunk_size: 64MiB\n  memory: 256MiB\n",
		withURL + "cache:\n  negative_ttl: 0\n  key_query_params: [v, quality, \"x-y\"]\n",
		withURL + "cache:\n  key_ignore_query_params: [token, expires, sig]\n",
		withURL + "cache:\n  key_query_params: [v]\n  key_ignore_query_params: []\n",
		withURL + "cache:\n  key_query_params: []\n  key_ignore_query_params: [token]\n",
		withURL + "server:\n  max_path_length: 1\n  max_ranges: 1\n  min_send_rate: 1\n",
		withURL + "server:\n  max_path_length: 65536\n  max_ranges: 1024\n",
		withURL + "log:\n  level: debug\n  format: json\n",
		withURL + "log:\n  level: warn\n",
		withURL + "log:\n  level: error\n",
	}
	for _, src := range srcs {
		wantErrors(t, src)
	}
}

func TestValidateAfterChanges(t *testing.T) {
	src := withURL + "cache:\n  memory: 2MiB\n  chunk_size: 1MiB\nlog:\n  level: verbose\n"
	cfg, err := Parse("edge.yaml", []byte(src))
	want := []string{
		`edge.yaml:4: cache.memory: 2MiB is less than 4 × chunk_size (1MiB): want at least 4MiB`,
		`edge.yaml:7: log.level: "verbose" is not a log level (want debug, info, warn or error)`,
	}
	if got := errLines(t, err); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	// Validate again with nothing changed: same file lines.
	if got := errLines(t, cfg.Validate()); !reflect.DeepEqual(got, want) {
		t.Fatalf("Validate() = %q", got)
	}
	// Values set after loading (e.g. by flags) have no file or line.
	cfg.Cache.Memory = 3 * MiB
	cfg.Log.Level = "loud"
	cfg.Origin.URL = ""
	want = []string{
		`origin.url: required: the origin's base URL, e.g. http://origin.example.com`,
		`cache.memory: 3MiB is less than 4 × chunk_size (1MiB): want at least 4MiB`,
		`log.level: "loud" is not a log level (want debug, info, warn or error)`,
	}
	if got := errLines(t, cfg.Validate()); !reflect.DeepEqual(got, want) {
		t.Fatalf("after changes, Validate() = %q", got)
	}
	cfg.Cache.Memory = 4 * MiB
	cfg.Log.Level = "debug"
	cfg.Origin.URL = "http://fixed"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// A field absent from the file keeps the file name, without a line.
	cfg, err = Parse("edge.yaml", []byte("listen: \":9\"\n"))
	if got := errLines(t, err); !reflect.DeepEqual(got, []string{"edge.yaml: origin.url: required: the origin's base URL, e.g. http://origin.example.com"}) {
		t.Fatalf("got %q", got)
	}
	if cfg == nil || cfg.Listen != ":9" {
		t.Fatalf("cfg = %+v", cfg)
	}
	// A list changed in place loses its line.
	cfg, _ = Parse("edge.yaml", []byte(withURL+"cache:\n  key_query_params: [a, b]\n"))
	cfg.Cache.KeyQueryParams[1] = "b c"
	if got := errLines(t, cfg.Validate()); len(got) != 1 || !strings.HasPrefix(got[0], "cache.key_query_params[1]: ") {
		t.Fatalf("got %q", got)
	}
	cfg.Cache.KeyQueryParams[1] = "b"
	cfg.Cache.KeyQueryParams = append(cfg.Cache.KeyQueryParams, "")
	if got := errLines(t, cfg.Validate()); len(got) != 1 || !strings.HasPrefix(got[0], "cache.key_query_params[2]: ") {
		t.Fatalf("got %q", got)
	}
}

func TestQueryParamLists(t *testing.T) {
	cfg := wantErrors(t, withURL+"cache:\n  key_ignore_query_params: [token, expires, sig]\n")
	if !reflect.DeepEqual(cfg.Cache.KeyIgnoreQueryParams, []string{"token", "expires", "sig"}) || len(cfg.Cache.KeyQueryParams) != 0 {
		t.Fatalf("got %q, %q", cfg.Cache.KeyIgnoreQueryParams, cfg.Cache.KeyQueryParams)
	}
	// Both set after loading: the error is at the ignore list's line while
	// it is the file's, without file or line once it is changed.
	const msg = "cache.key_ignore_query_params: cannot be set together with cache.key_query_params: " +
		"name the parameters to leave out of the key, or the only ones to keep, not both"
	cfg.Cache.KeyQueryParams = []string{"v"}
	if got := errLines(t, cfg.Validate()); !reflect.DeepEqual(got, []string{"f.yaml:4: " + msg}) {
		t.Fatalf("got %q", got)
	}
	cfg.Cache.KeyIgnoreQueryParams = []string{"sig"}
	if got := errLines(t, cfg.Validate()); !reflect.DeepEqual(got, []string{msg}) {
		t.Fatalf("got %q", got)
	}
	cfg.Cache.KeyIgnoreQueryParams = nil
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCrossFieldLines(t *testing.T) {
	// An error about a field is reported at that field's line, even when
	// another field (chunk_size) makes it wrong.
	_, err := Parse("edge.yaml", []byte(withURL+"cache:\n  memory: 128MiB\n  chunk_size: 64MiB\n"))
	want := []string{`edge.yaml:4: cache.memory: 128MiB is less than 4 × chunk_size (64MiB): want at least 256MiB`}
	if got := errLines(t, err); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
	_, err = Parse("edge.yaml", []byte(withURL+"server:\n  max_ranges: 2\nlog:\n  format: yaml\n"))
	want = []string{`edge.yaml:6: log.format: "yaml" is not a log format (want text or json)`}
	if got := errLines(t, err); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q", got)
	}
}

func TestErrorFormat(t *testing.T) {
	cases := []struct {
		e    Error
		want string
	}{
		{Error{File: "edge.yaml", Line: 7, Field: "cache.chunk_size", Msg: `"1 MiB" is not a size`}, `edge.yaml:7: cache.chunk_size: "1 MiB" is not a size`},
		{Error{File: "edge.yaml", Field: "origin.url", Msg: "required"}, `edge.yaml: origin.url: required`},
		{Error{Field: "--mem", Msg: "bad"}, `--mem: bad`},
		{Error{Line: 3, Field: "log.level", Msg: "bad"}, `line 3: log.level: bad`},
		{Error{File: "edge.yaml", Line: 2, Msg: "want a mapping"}, `edge.yaml:2: want a mapping`},
		{Error{File: "e.yaml", Line: 1, Field: "yaml syntax", Msg: "oops"}, `e.yaml:1: yaml syntax: oops`},
	}
	for _, tc := range cases {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", tc.e, got, tc.want)
		}
	}
	errs := Errors{&cases[0].e, &cases[1].e}
	if got, want := errs.Error(), cases[0].want+"\n"+cases[1].want; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(error(errs), &e) || e != &cases[0].e {
		t.Error("errors.As cannot reach an *Error in Errors")
	}
	if !errors.Is(errs, &cases[1].e) {
		t.Error("errors.Is cannot reach an *Error in Errors")
	}
	if (Errors{}).Error() != "" {
		t.Error("empty Errors")
	}
}

func TestExactExampleFromSpec(t *testing.T) {
	_, err := Parse("edge.yaml", []byte(`# edge
listen: ":8080"
origin:
  url: http://o
  tmeout: 3s
cache:
  chunk_size: 1 MiB
`))
	want := "edge.yaml:5: origin.tmeout: unknown field (known: url, connect_timeout, first_byte_timeout, idle_timeout, max_conns, max_in_flight, queue_length, queue_wait, request_deadline, retry_backoff, breaker, health)\n" +
		`edge.yaml:7: cache.chunk_size: "1 MiB" is not a size (want e.g. 512KiB, 1MiB, 4GiB)`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(path, []byte(withURL+"cache:\n  memory: 1GiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil || cfg.Cache.Memory != GiB || cfg.Origin.URL != "http://origin.test" {
		t.Fatalf("Load = %+v, %v", cfg, err)
	}
	if err := os.WriteFile(path, []byte(withURL+"cache:\n  memory: 1KiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(path)
	if got := errLines(t, err); len(got) != 1 || !strings.HasPrefix(got[0], path+":4: cache.memory: ") {
		t.Fatalf("got %q", got)
	}
	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("Load(missing) = %v", err)
	}
}

func TestPoliciesMatchPackagePolicy(t *testing.T) {
	if !slices.Equal(Policies, policy.Names()) {
		t.Fatalf("config.Policies %q, policy.Names() %q", Policies, policy.Names())
	}
}

// Issue #8 §8: config check and serve accept exactly the same origin URLs:
// one validation (origin.ParseBaseURL), one table for both.
func TestOriginURLOneValidation(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:8081", true},
		{"https://origin.example/pre/fix/", true},
		{"http://[::1]:8081/", true},
		{"http://u:p@h/", false},
		{"http://u@h/", false},
		{"ftp://h/", false},
		{"h:8081", false},
		{"http://", false},
		{"http:o", false},
		{"http://h/?q=1", false},
		{"http://h/#f", false},
		{"http://h/%zz", false},
		{"http://h:port/", false},
	} {
		cfg := Default()
		cfg.Origin.URL = tc.url
		cfgErr := cfg.Validate()
		_, clientErr := origin.NewClient(tc.url, origin.Options{})
		if (cfgErr == nil) != tc.ok || (clientErr == nil) != tc.ok {
			t.Errorf("%q: config check error %v, origin client error %v; want ok=%v from both", tc.url, cfgErr, clientErr, tc.ok)
		}
	}
}
