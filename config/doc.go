// Package config is the configuration schema of edgecache: the Config
// struct with its defaults, the YAML loader, and the semantic checks.
//
// A configuration file is YAML with snake_case keys; every field has a
// default (see Default and example.yaml, the commented reference file),
// except origin.url, which is required unless upstreams lists at least one
// upstream. The upstreams a miss tries are upstreams (parents, siblings) in
// order, then origin.url; an upstream's fields left at 0 take origin's
// values (Config.UpstreamList resolves them). Load and Parse start from
// Default, apply the file over it, then Validate:
//
//	cfg, err := config.Load("edge.yaml")
//
// Sizes (Size) are written 512MiB, 4GiB, 64KiB, 1TiB, 100B, as a plain
// integer of bytes, or with a decimal unit (KB, MB, GB, TB); durations
// (Duration) in Go syntax: 30s, 1h30m, 500ms. A key that is absent, empty
// or null keeps its default; a list given in the file replaces the default
// list. YAML aliases and merge keys ("<<") work.
//
// # Errors
//
// Loading reports every problem found, not just the first, as Errors: one
// *Error per problem, each rendered as
//
//	FILE:LINE: field: message
//
// where field is the full dotted path, e.g.
//
//	edge.yaml:7: cache.chunk_size: "1 MiB" is not a size (want e.g. 512KiB, 1MiB, 4GiB)
//	edge.yaml:3: origin.tmeout: unknown field (known: url, connect_timeout, ...)
//	edge.yaml:5: yaml syntax: mapping values are not allowed in this context
//
// Unknown fields, wrong types, duplicate keys and malformed values are
// errors. Validation errors point at the line the value came from; values
// set after loading (e.g. by command-line flags) are reported without a
// file and line.
//
// # Reload
//
// A running daemon reparses its file on SIGHUP. Diff lists what changed;
// the settings in LiveFields apply at once, every other change is logged as
// needing a restart, and a file that does not load is rejected with its
// errors while the running configuration stays.
//
// # Adding a field
//
// The loader is a reflective walker over the yaml struct tags, so a new
// setting is a new tagged field plus its default in Default, its check in
// Config.check and its entry in example.yaml (a test fails until it is
// there), and, if the daemon can apply it while running, its path in
// LiveFields. Nested structs decode from mappings, slices from sequences (of
// scalars or of mappings, e.g. a future
//
//	Disks []Disk `yaml:"disks"` // Disk{Path string; Size Size; Optional bool}
//
// in Cache), and any type implementing encoding.TextUnmarshaler from a
// scalar.
package config
