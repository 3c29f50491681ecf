package config

import (
	"reflect"
	"slices"
	"strings"
)

// LiveFields are the settings a running daemon applies on reload (SIGHUP)
// without a restart. Every other setting (listeners, disks, chunk size,
// memory, origin, cache and server settings) keeps its running value until
// the daemon is restarted; the reload logs each one that changed.
var LiveFields = []string{"log.level", "log.access", "admin.token_file", "server.shutdown_timeout"}

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
			out = append(out, Change{Field: path, Live: slices.Contains(LiveFields, path)})
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
