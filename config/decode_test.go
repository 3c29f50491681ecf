package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// errLines returns the rendered errors of err, which must be Errors.
func errLines(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v (%T) is not Errors", err, err)
	}
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

// wantErrors parses src as f.yaml and checks the errors are exactly want.
func wantErrors(t *testing.T, src string, want ...string) *Config {
	t.Helper()
	cfg, err := Parse("f.yaml", []byte(src))
	got := errLines(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(%q) errors:\n  %s\nwant:\n  %s", src, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	return cfg
}

const withURL = "origin:\n  url: http://origin.test\n"

func TestUnknownFields(t *testing.T) {
	src := `listen: ":8080"
origin:
  url: http://o
  tmeout: 3s
cache:
  memroy: 1GiB
  chunk_size: 1MiB
bogus: 1
log: {level: info, colour: true}
`
	cfg := wantErrors(t, src,
		"f.yaml:4: origin.tmeout: unknown field (known: url, connect_timeout, first_byte_timeout, idle_timeout, max_conns, max_in_flight, queue_length, queue_wait, request_deadline, retry_backoff, breaker, health)",
		"f.yaml:6: cache.memroy: unknown field (known: chunk_size, memory, negative_ttl, default_ttl, max_stale_while_revalidate, max_stale_if_error, ttl_overrides, serve_stale_on_error, key_query_params, key_ignore_query_params, policy, disks, disk_state_file, disk_second_miss, fsync, disk_queue, fetch_memory, scrub_rate, disk_check_interval, open_files)",
		"f.yaml:8: bogus: unknown field (known: listen, origin, upstreams, cache, server, log, admin, fill)",
		"f.yaml:9: log.colour: unknown field (known: level, format, access)",
	)
	if cfg != nil {
		t.Error("a file that does not decode returned a Config")
	}
}

func TestWrongTypes(t *testing.T) {
	cases := []struct{ src, want string }{
		{"origin: http://x\n", `f.yaml:1: origin: want a mapping, got "http://x"`},
		{"origin: [a]\n", `f.yaml:1: origin: want a mapping, got a list`},
		{"origin:\n  url: [a]\n", `f.yaml:2: origin.url: want a string, got a list`},
		{"origin:\n  url: {a: b}\n", `f.yaml:2: origin.url: want a string, got a mapping`},
		{withURL + "  max_conns: \"12\"\n", `f.yaml:3: origin.max_conns: want an integer, got "12"`},
		{withURL + "  max_conns: twelve\n", `f.yaml:3: origin.max_conns: want an integer, got "twelve"`},
		{withURL + "  max_conns: 1.5\n", `f.yaml:3: origin.max_conns: want an integer, got number 1.5`},
		{withURL + "  max_conns: true\n", `f.yaml:3: origin.max_conns: want an integer, got boolean true`},
		{withURL + "  max_conns: 99999999999999999999\n", `f.yaml:3: origin.max_conns: 99999999999999999999 is out of range`},
		{withURL + "  max_conns: [1]\n", `f.yaml:3: origin.max_conns: want an integer, got a list`},
		{withURL + "cache:\n  key_query_params: v\n", `f.yaml:4: cache.key_query_params: want a list, got "v"`},
		{withURL + "cache:\n  key_query_params: {v: 1}\n", `f.yaml:4: cache.key_query_params: want a list, got a mapping`},
		{withURL + "cache:\n  key_query_params:\n    - a\n    - [b]\n", `f.yaml:6: cache.key_query_params[1]: want a string, got a list`},
		{withURL + "cache:\n  key_query_params: [a, 1]\n", `f.yaml:4: cache.key_query_params[1]: want a string, got integer 1`},
		{withURL + "cache:\n  memory: {a: 1}\n", `f.yaml:4: cache.memory: want a size (e.g. 512KiB, 1MiB, 4GiB), got a mapping`},
		{withURL + "cache:\n  memory: [1]\n", `f.yaml:4: cache.memory: want a size (e.g. 512KiB, 1MiB, 4GiB), got a list`},
		{withURL + "cache:\n  chunk_size: 1 MiB\n", `f.yaml:4: cache.chunk_size: "1 MiB" is not a size (want e.g. 512KiB, 1MiB, 4GiB)`},
		{withURL + "cache:\n  memory: -1GiB\n", `f.yaml:4: cache.memory: "-1GiB" is not a size: sizes cannot be negative`},
		{withURL + "cache:\n  memory: 9999999TiB\n", `f.yaml:4: cache.memory: "9999999TiB" is too large (max 9223372036854775807 bytes)`},
		{withURL + "cache:\n  default_ttl: {}\n", `f.yaml:4: cache.default_ttl: want a duration (e.g. 30s, 1h30m), got a mapping`},
		{withURL + "server:\n  read_timeout: 30\n", `f.yaml:4: server.read_timeout: "30" has no unit: add one, e.g. 30s, 30ms or 30m`},
		{withURL + "server:\n  read_timeout: 1d\n", `f.yaml:4: server.read_timeout: "1d" is not a duration (want e.g. 30s, 500ms, 1h30m)`},
		{withURL + "server:\n  - a\n", `f.yaml:3: server: want a mapping, got a list`},
		{withURL + "log:\n  level: true\n", `f.yaml:4: log.level: want a string, got boolean true`},
		{"listen: 8080\n" + withURL, `f.yaml:1: listen: want a string, got integer 8080`},
		{"listen: 2024-01-02\n" + withURL, `f.yaml:1: listen: want a string, got timestamp 2024-01-02`},
		{"listen: !!binary aGk=\n" + withURL, `f.yaml:1: listen: want a string, got !!binary "aGk="`},
		{"42\n", `f.yaml:1: want a mapping, got integer 42`},
		{"- a\n- b\n", `f.yaml:1: want a mapping, got a list`},
		{"just text\n", `f.yaml:1: want a mapping, got "just text"`},
		{"? [a]\n: b\n", `f.yaml:1: a key must be a field name, got a list`},
	}
	for _, tc := range cases {
		wantErrors(t, tc.src, tc.want)
	}
}

func TestQuotedScalarsAreStrings(t *testing.T) {
	cfg := wantErrors(t, "listen: \"127.0.0.1:80\"\norigin:\n  url: 'http://o'\n  max_conns: 0x20\ncache:\n  memory: \"1073741824\"\n  chunk_size: !!str 1MiB\n")
	if cfg.Listen != "127.0.0.1:80" || cfg.Origin.URL != "http://o" || cfg.Origin.MaxConns != 32 || cfg.Cache.Memory != GiB {
		t.Errorf("got %+v", cfg)
	}
}

func TestAllErrorsReported(t *testing.T) {
	src := `origin:
  url: ftp://o
  max_conns: 0
cache:
  chunk_size: 1 MiB
  memory: 1KiB
  negative_ttl: 5
server:
  max_ranges: many
  idle_timeout: 0s
log:
  level: loud
  format: xml
`
	wantErrors(t, src,
		// Semantic errors of the fields that did decode are reported too,
		// but not those involving a field that did not (memory vs chunk_size).
		`f.yaml:2: origin.url: "ftp://o": want an http:// or https:// URL`,
		`f.yaml:3: origin.max_conns: 0 is out of range (1..65536)`,
		`f.yaml:5: cache.chunk_size: "1 MiB" is not a size (want e.g. 512KiB, 1MiB, 4GiB)`,
		`f.yaml:7: cache.negative_ttl: "5" has no unit: add one, e.g. 5s, 5ms or 5m`,
		`f.yaml:9: server.max_ranges: want an integer, got "many"`,
		`f.yaml:10: server.idle_timeout: must be > 0, got 0s`,
		`f.yaml:12: log.level: "loud" is not a log level (want debug, info, warn or error)`,
		`f.yaml:13: log.format: "xml" is not a log format (want text or json)`,
	)
}

func TestErrorsSortedByLine(t *testing.T) {
	_, err := Parse("f.yaml", []byte("log:\n  format: xml\n  colour: red\norigin:\n  url: ftp://o\n  bad: 1\n"))
	want := []string{
		`f.yaml:2: log.format: "xml" is not a log format (want text or json)`,
		`f.yaml:3: log.colour: unknown field (known: level, format, access)`,
		`f.yaml:5: origin.url: "ftp://o": want an http:// or https:// URL`,
		`f.yaml:6: origin.bad: unknown field (known: url, connect_timeout, first_byte_timeout, idle_timeout, max_conns, max_in_flight, queue_length, queue_wait, request_deadline, retry_backoff, breaker, health)`,
	}
	if got := errLines(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestDuplicateKeys(t *testing.T) {
	src := `origin:
  url: http://o
  url: http://p
cache:
  memory: 1GiB
  memory: 2GiB
  memory: 3GiB
cache:
  memory: 4GiB
nope: 1
nope: 2
`
	wantErrors(t, src,
		"f.yaml:3: origin.url: duplicate key (first at line 2)",
		"f.yaml:6: cache.memory: duplicate key (first at line 5)",
		"f.yaml:7: cache.memory: duplicate key (first at line 5)",
		"f.yaml:8: cache: duplicate key (first at line 4)",
		"f.yaml:10: nope: unknown field (known: listen, origin, upstreams, cache, server, log, admin, fill)",
		"f.yaml:11: nope: duplicate key (first at line 10)",
	)
	wantErrors(t, "origin: {url: http://o, url: http://p}\n", "f.yaml:1: origin.url: duplicate key (first at line 1)")
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"a: b: c\n", "f.yaml:1: yaml syntax: mapping values are not allowed in this context"},
		{withURL + "listen: a: b\n", "f.yaml:3: yaml syntax: mapping values are not allowed in this context"},
		{"origin:\n\turl: x\n", "f.yaml:2: yaml syntax: found character that cannot start any token"},
		{"key: @x\n", "f.yaml:1: yaml syntax: found character that cannot start any token"},
		{"origin: {url: x\n", "f.yaml:1: yaml syntax: did not find expected ',' or '}'"},
		{withURL + "cache:\n  key_query_params: [a, b\n", "f.yaml:4: yaml syntax: did not find expected ',' or ']'"},
		{"- a\nb: 1\n", "f.yaml:2: yaml syntax: did not find expected '-' indicator"},
		{"cache:\n  memory: 1GiB\n  chunk_size: 1MiB\n bad: 2\n", "f.yaml:4: yaml syntax: did not find expected key"},
		{"listen: \"abc\n", "f.yaml:1: yaml syntax: found unexpected end of stream"},
		{withURL + "cache: *nope\n", "f.yaml:3: yaml syntax: unknown anchor 'nope' referenced"},
		{withURL + "listen: \"a\x01b\"\n", "f.yaml:3: yaml syntax: control characters are not allowed"},
		{withURL + "listen: a\xffb\n", "f.yaml:3: yaml syntax: invalid leading UTF-8 octet"},
		{withURL + "---\nlisten: x\n", "f.yaml:4: yaml syntax: a config file holds one YAML document, found another"},
	}
	for _, tc := range cases {
		cfg := wantErrors(t, tc.src, tc.want)
		if cfg != nil {
			t.Errorf("Parse(%q) returned a Config with a syntax error", tc.src)
		}
	}
}

func TestEmptyAndNull(t *testing.T) {
	required := "f.yaml: origin.url: required: the origin's base URL, e.g. http://origin.example.com"
	for _, src := range []string{"", "\n\n", "# only a comment\n", "---\n", "~\n", "null\n", "{}\n", "---\n...\n"} {
		cfg := wantErrors(t, src, required)
		if cfg == nil {
			t.Fatalf("Parse(%q) returned no Config", src)
		}
		want := Default()
		if !reflect.DeepEqual(exported(cfg), exported(want)) {
			t.Errorf("Parse(%q) = %+v, want the defaults", src, cfg)
		}
	}
	// A section or a field without a value keeps its defaults.
	cfg := wantErrors(t, withURL+"cache:\nserver:\n  read_timeout:\n  idle_timeout: ~\n  max_ranges: null\nlog:\n  # level: debug\n")
	if got := exported(cfg); !reflect.DeepEqual(got.Server, Default().Server) || !reflect.DeepEqual(got.Cache, Default().Cache) {
		t.Errorf("got %+v", got)
	}
	// A trailing empty document is fine.
	wantErrors(t, withURL+"---\n")
}

func TestListReplacesDefault(t *testing.T) {
	cfg := wantErrors(t, withURL+"cache:\n  key_query_params: [v, quality]\n")
	if !reflect.DeepEqual(cfg.Cache.KeyQueryParams, []string{"v", "quality"}) {
		t.Errorf("got %q", cfg.Cache.KeyQueryParams)
	}
	cfg = wantErrors(t, withURL+"cache:\n  key_query_params: []\n")
	if cfg.Cache.KeyQueryParams == nil || len(cfg.Cache.KeyQueryParams) != 0 {
		t.Errorf("got %#v", cfg.Cache.KeyQueryParams)
	}
}

func TestAliasesAndMerges(t *testing.T) {
	src := `origin:
  url: http://o
  connect_timeout: &t 7s
  idle_timeout: *t
cache:
  key_query_params: &p [v, q]
server:
  read_timeout: *t
`
	cfg := wantErrors(t, src)
	if cfg.Origin.IdleTimeout.D().Seconds() != 7 || cfg.Server.ReadTimeout != cfg.Origin.ConnectTimeout {
		t.Errorf("aliases: got %+v %+v", cfg.Origin, cfg.Server)
	}
	if cfg.lines["server.read_timeout"] != 8 {
		t.Errorf("line of server.read_timeout = %d, want 8", cfg.lines["server.read_timeout"])
	}
	// A merged mapping's keys are set unless given explicitly.
	src = `log: &l
  level: debug
  format: json
origin:
  url: http://o
server: {}
`
	cfg = wantErrors(t, src)
	if cfg.Log.Level != "debug" {
		t.Errorf("got %+v", cfg.Log)
	}
	wantErrors(t, withURL+"server:\n  <<: 5\n", `f.yaml:4: server.<<: want a mapping or a list of mappings to merge, got integer 5`)
	wantErrors(t, withURL+"server:\n  <<: [5]\n", `f.yaml:4: server.<<: want a mapping to merge, got integer 5`)
}

// Test-only schema with a list of mappings, the shape a later Cache.Disks
// will have: the loader needs nothing more than the new field.
type testDisk struct {
	Path     string `yaml:"path"`
	Size     Size   `yaml:"size"`
	Optional bool   `yaml:"optional"`
}

type testCache struct {
	Memory Size       `yaml:"memory"`
	Disks  []testDisk `yaml:"disks"`
	Tags   []string   `yaml:"tags"`
	Weight float64    `yaml:"weight"`
	Shards int8       `yaml:"shards"`
	hidden int        //lint:ignore U1000 checks unexported fields are ignored
	NoTag  int
	Skip   int `yaml:"-"`
}

type testRoot struct {
	Cache testCache `yaml:"cache"`
}

func decodeTest(t *testing.T, src string) (*testRoot, *decoder) {
	t.Helper()
	root := &testRoot{Cache: testCache{Memory: 7, Disks: []testDisk{{Path: "/default"}}}}
	d := decodeYAML("t.yaml", []byte(src), root)
	return root, d
}

func TestListOfMappings(t *testing.T) {
	src := `cache:
  memory: 1GiB
  disks:
    - path: /mnt/a
      size: 1TiB
    - path: /mnt/b
      size: 512GiB
      optional: true
    - {path: /mnt/c, size: 10GB}
  weight: 1.5
  shards: 8
`
	root, d := decodeTest(t, src)
	if len(d.errs) > 0 {
		t.Fatal(d.errs)
	}
	want := []testDisk{{"/mnt/a", TiB, false}, {"/mnt/b", 512 * GiB, true}, {"/mnt/c", 10_000_000_000, false}}
	if !reflect.DeepEqual(root.Cache.Disks, want) || root.Cache.Memory != GiB || root.Cache.Weight != 1.5 || root.Cache.Shards != 8 {
		t.Errorf("got %+v", root.Cache)
	}
	wantLines := map[string]int{
		"cache":                   1,
		"cache.memory":            2,
		"cache.disks":             3,
		"cache.disks[0]":          4,
		"cache.disks[0].path":     4,
		"cache.disks[0].size":     5,
		"cache.disks[1]":          6,
		"cache.disks[1].path":     6,
		"cache.disks[1].size":     7,
		"cache.disks[1].optional": 8,
		"cache.disks[2]":          9,
		"cache.disks[2].path":     9,
		"cache.disks[2].size":     9,
		"cache.weight":            10,
		"cache.shards":            11,
	}
	if !reflect.DeepEqual(d.lines, wantLines) {
		t.Errorf("lines = %v\nwant %v", d.lines, wantLines)
	}

	// Snapshots cover list elements, so Validate-style lookups work.
	vals := map[string]any{}
	snapshot(reflect.ValueOf(root).Elem(), "", vals)
	if vals["cache.disks[1].size"] != 512*GiB || vals["cache.disks[2].path"] != "/mnt/c" {
		t.Errorf("snapshot = %v", vals)
	}
	if _, ok := vals["cache.NoTag"]; ok {
		t.Error("untagged field in snapshot")
	}

	// Merges inside lists, and a mapping that merges itself.
	root, d = decodeTest(t, `cache:
  disks:
    - &d {path: /a, size: 1TiB, optional: true}
    - <<: *d
      path: /b
    - &e
      path: /c
      <<: *e
`)
	if len(d.errs) > 0 {
		t.Fatal(d.errs)
	}
	want = []testDisk{{"/a", TiB, true}, {"/b", TiB, true}, {"/c", 0, false}}
	if !reflect.DeepEqual(root.Cache.Disks, want) {
		t.Errorf("got %+v", root.Cache.Disks)
	}
}

func TestListOfMappingsErrors(t *testing.T) {
	src := `cache:
  disks:
    - path: /mnt/a
      sise: 1TiB
    - /mnt/b
    - path: [x]
      size: 1 TiB
      optional: yes
      path: /again
    -
  tags: [a, {b: c}]
  NoTag: 1
  Skip: 1
  hidden: 1
  weight: heavy
  shards: 300
`
	root, d := decodeTest(t, src)
	var got []string
	for _, e := range d.errs {
		got = append(got, e.Error())
	}
	want := []string{
		`t.yaml:4: cache.disks[0].sise: unknown field (known: path, size, optional)`,
		`t.yaml:5: cache.disks[1]: want a mapping, got "/mnt/b"`,
		`t.yaml:6: cache.disks[2].path: want a string, got a list`,
		`t.yaml:7: cache.disks[2].size: "1 TiB" is not a size (want e.g. 512KiB, 1MiB, 4GiB)`,
		`t.yaml:8: cache.disks[2].optional: want true or false, got "yes"`,
		`t.yaml:9: cache.disks[2].path: duplicate key (first at line 6)`,
		`t.yaml:11: cache.tags[1]: want a string, got a mapping`,
		`t.yaml:12: cache.NoTag: unknown field (known: memory, disks, tags, weight, shards)`,
		`t.yaml:13: cache.Skip: unknown field (known: memory, disks, tags, weight, shards)`,
		`t.yaml:14: cache.hidden: unknown field (known: memory, disks, tags, weight, shards)`,
		`t.yaml:15: cache.weight: want a number, got "heavy"`,
		`t.yaml:16: cache.shards: 300 is out of range`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// A null item is a zero element.
	if len(root.Cache.Disks) != 4 || root.Cache.Disks[3] != (testDisk{}) {
		t.Errorf("disks = %+v", root.Cache.Disks)
	}
	for _, p := range []string{"cache.disks[2].size", "cache.disks[1]", "cache.tags[1]"} {
		if !d.isBad(p) {
			t.Errorf("isBad(%q) = false", p)
		}
	}
	if !d.isBad("cache.disks[1].path") || d.isBad("cache.disks[0].path") || d.isBad("cache.memory") {
		t.Error("isBad does not follow enclosing paths")
	}
}

func TestAliasExplosionIsCheap(t *testing.T) {
	// Each level merges the previous one nine times: 9^9 mappings if
	// expanded naively.
	var b strings.Builder
	b.WriteString("cache:\n  disks:\n    - &a0 {path: /p}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "    - &a%d {<<: [", i)
		for j := range 9 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]}\n")
	}
	root, d := decodeTest(t, b.String())
	if len(d.errs) > 0 || len(root.Cache.Disks) != 10 || root.Cache.Disks[9].Path != "/p" {
		t.Fatalf("got %+v %v", root.Cache.Disks, d.errs)
	}
}

func TestUnsupportedFieldTypePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "unsupported type") {
			t.Errorf("recover() = %v", r)
		}
	}()
	var v struct {
		M map[string]int `yaml:"m"`
	}
	decodeYAML("x", []byte("m: {a: 1}\n"), &v)
}
