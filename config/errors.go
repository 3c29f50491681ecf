package config

import (
	"slices"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration: a YAML syntax error, a
// decoding error (unknown field, wrong type, duplicate key, malformed value)
// or a failed semantic check.
type Error struct {
	// File is the name the configuration was loaded from; empty for
	// values that did not come from a file (defaults changed in code,
	// command-line flags).
	File string
	// Line is the 1-based line in File the problem is at, or 0 when
	// unknown (a required field absent from the file, a value set after
	// loading).
	Line int
	// Field is the full dotted path of the field, e.g. "cache.chunk_size"
	// or "cache.key_query_params[2]"; "yaml syntax" for syntax errors.
	Field string
	// Msg says what is wrong.
	Msg string
}

// Error renders the error as "FILE:LINE: field: msg". Without a line it is
// "FILE: field: msg"; without a file it is "field: msg" (or
// "line LINE: field: msg" when a line is known). An empty Field is left out.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	case e.File != "":
		b.WriteString(e.File)
		b.WriteString(": ")
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in a configuration, in file order (errors
// without a line last). Parse, Load and Validate return their errors as
// Errors; use errors.As to get at the individual entries.
type Errors []*Error

// Error renders one error per line, joined by "\n".
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual errors, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sortErrors orders errors by line, keeping errors without a line last and
// errors on the same line in the order they were found.
func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b *Error) int {
		switch {
		case a.Line == b.Line:
			return 0
		case a.Line == 0:
			return 1
		case b.Line == 0:
			return -1
		}
		return a.Line - b.Line
	})
}
