package config

import (
	"reflect"
	"strings"
)

// LiveFields are the settings a running daemon applies on reload (SIGHUP)
// without a restart; an entry ending in ".*" covers every setting under
// it. Every other setting (listeners, disks, chunk size, memory, the cache
// key, connection limits) keeps its running value until the daemon is
// restarted; the reload logs each one that changed.
var LiveFields = []string{"log.level", "log.access", "admin.token_file", "server.shutdown_timeout",
	"origin.*", "upstreams",
	"cache.default_ttl", "cache.negative_ttl", "cache.ttl_overrides", "cache.max_stale_while_revalidate",
	"cache.max_stale_if_error", "cache.serve_stale_on_error",
	"server.max_ranges", "server.min_send_rate", "server.max_range_fetch_chunks",
	"server.max_connections_per_ip"}

// live reports whether the setting at path is one of LiveFields.
func live(path string) bool {
	for _, f := range LiveFields {
		if f == path || (strings.HasSuffix(f, ".*") && strings.HasPrefix(path, f[:len(f)-1])) {
			return true
		}
	}
	return false
}

// Change is one setting whose value differs between two configurations.
type Change struct {
	// Field is the setting's dotted path, e.g. "log.level".
	Field string
	// Live reports whether the setting applies without a restart (it is
	// one of LiveFields).
	Live bool
}

// Diff lists the settings whose values differ from old to new, in schema
// order. Lists are compared whole: a changed disk is reported as
// "cache.disks".
func Diff(old, new *Config) []Change {
	a, b := map[string]any{}, map[string]any{}
	snapshot(reflect.ValueOf(old).Elem(), "", a)
	snapshot(reflect.ValueOf(new).Elem(), "", b)
	var out []Change
	for _, path := range leafPaths(reflect.TypeFor[Config](), "") {
		if !reflect.DeepEqual(a[path], b[path]) {
			out = append(out, Change{Field: path, Live: live(path)})
		}
	}
	return out
}

// leafPaths lists the dotted path of every leaf field of struct type t, a
// list counting as one leaf.
func leafPaths(t reflect.Type, prefix string) []string {
	var out []string
	fs := fieldsOf(t)
	for _, name := range fs.names {
		ft := t.Field(fs.index[name]).Type
		path := join(prefix, name)
		if ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshalerType) {
			out = append(out, leafPaths(ft, path)...)
			continue
		}
		out = append(out, path)
	}
	return out
}

// Restart returns the fields of changes that need a restart, joined by ", ".
func Restart(changes []Change) string {
	var fields []string
	for _, c := range changes {
		if !c.Live {
			fields = append(fields, c.Field)
		}
	}
	return strings.Join(fields, ", ")
}
