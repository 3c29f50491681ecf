package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	old := Default()
	old.Origin.URL = "http://o"
	c, err := Parse("f.yaml", []byte(`origin: {url: http://o}
log: {level: debug, access: /var/log/edgecache/access.log}
cache:
  chunk_size: 2MiB
  disks: [{path: /srv/c1, size: 1TiB}]
admin: {token_file: /etc/edgecache/token}
`))
	if err != nil {
		t.Fatal(err)
	}
	got := Diff(old, c)
	want := []Change{{"cache.chunk_size", false}, {"cache.disks", false},
		{"log.level", true}, {"log.access", true}, {"admin.token_file", true}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Diff = %v, want %v", got, want)
	}
	if r := Restart(got); r != "cache.chunk_size, cache.disks" {
		t.Errorf("Restart = %q", r)
	}
	if d := Diff(c, c); len(d) != 0 {
		t.Errorf("Diff of a config with itself = %v", d)
	}
}

func TestAdminListen(t *testing.T) {
	for _, tc := range []struct {
		yaml, err string
	}{
		{"admin: {listen: 127.0.0.1:9090}", ""},
		{"admin: {listen: \"[::1]:9090\"}", ""},
		{"admin: {listen: localhost:9090}", ""},
		{"admin: {listen: \":9090\"}", "f.yaml:2: admin.listen: \":9090\" is not a loopback address: set admin.token_file"},
		{"admin: {listen: 10.0.0.1:9090}", "f.yaml:2: admin.listen: \"10.0.0.1:9090\" is not a loopback address"},
		{"admin: {listen: 10.0.0.1:9090, token_file: /etc/edgecache/token}", ""},
		{"admin: {listen: nope}", "f.yaml:2: admin.listen: \"nope\" is not a listen address"},
		{"server: {shutdown_timeout: 0s}", "f.yaml:2: server.shutdown_timeout: must be > 0"},
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
