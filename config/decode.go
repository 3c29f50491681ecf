package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// The decoder is a small reflective walker over a yaml.Node tree, keyed on
// the `yaml` struct tags of the destination:
//
//	struct                          ← mapping (unknown and duplicate keys are errors)
//	slice                           ← sequence, replacing the default
//	encoding.TextUnmarshaler        ← scalar (Size, Duration)
//	string                          ← string scalar
//	int kinds, float64, bool        ← scalar of that YAML type
//
// It records the line of every field it sets under the field's dotted path
// ("cache.chunk_size", "cache.disks[1].path"), collects every error instead
// of stopping at the first, and leaves a field at its default when the
// file gives it no value (key absent, empty, or null). Aliases are
// followed and merge keys ("<<") are honored.

// decoder holds the state of one decoding pass.
type decoder struct {
	file  string
	errs  Errors
	lines map[string]int  // dotted path → line of every field set
	bad   map[string]bool // dotted paths that failed to decode
}

// decodeYAML decodes data, one YAML document, over the struct dst points to.
func decodeYAML(file string, data []byte, dst any) *decoder {
	d := &decoder{file: file, lines: map[string]int{}, bad: map[string]bool{}}
	root, err := parseYAML(data)
	if err != nil {
		d.syntax(err, data)
		return d
	}
	if root != nil {
		d.value(root, reflect.ValueOf(dst).Elem(), "", root.Line)
	}
	return d
}

// extraDocError reports a second YAML document in the input.
type extraDocError struct{ line int }

func (e *extraDocError) Error() string {
	return fmt.Sprintf("yaml: line %d: a config file holds one YAML document, found another", e.line)
}

// parseYAML parses data into a node tree and returns its root, or nil for
// an empty document.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, err
	case len(extra.Content) > 0 && !isNull(extra.Content[0]):
		return nil, &extraDocError{extra.Content[0].Line}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// parserProblems are the messages of the YAML parser (as opposed to its
// scanner and reader), whose line numbers yaml.v3 reports 0-based.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// syntax records a YAML parse error of data as "FILE:LINE: yaml syntax: ...".
// yaml.v3 leaves the line out of errors on the first line and of reader
// errors, and numbers parser errors from 0; this puts them right.
func (d *decoder) syntax(err error, data []byte) {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		if parserProblems[msg] {
			line++
		}
	} else {
		line = syntaxLine(msg, data)
	}
	if n := lineAt(data, len(bytes.TrimRight(data, "\n"))); line > n {
		line = n // an error at the end of the input: its last line
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: "yaml syntax", Msg: msg})
	d.bad[""] = true
}

// syntaxLine finds the line of a YAML error whose message has none.
func syntaxLine(msg string, data []byte) int {
	if name, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
		name = strings.TrimSuffix(name, "' referenced")
		for i := 0; i < len(data); i++ {
			j := i + 1 + len(name)
			if data[i] == '*' && bytes.HasPrefix(data[i+1:], []byte(name)) &&
				(j == len(data) || bytes.IndexByte([]byte(" \t\r\n,[]{}"), data[j]) >= 0) {
				return lineAt(data, i)
			}
		}
		return 1
	}
	// Reader errors (bad encoding, control characters): find the rune.
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 || !yamlPrintable(r) {
			return lineAt(data, i)
		}
		i += size
	}
	// Scanner and parser errors on the first line carry no line number.
	return 1
}

// yamlPrintable reports whether the YAML reader accepts rune r.
func yamlPrintable(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D || r >= 0x20 && r <= 0x7E || r == 0x85 ||
		r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// lineAt returns the 1-based line of byte offset i in data.
func lineAt(data []byte, i int) int {
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// fail records an error about the field at path.
func (d *decoder) fail(line int, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
	d.bad[path] = true
}

// isBad reports whether path, or a field enclosing it, failed to decode.
func (d *decoder) isBad(path string) bool {
	if d.bad[path] || d.bad[""] {
		return true
	}
	for i := 0; i < len(path); i++ {
		if (path[i] == '.' || path[i] == '[') && d.bad[path[:i]] {
			return true
		}
	}
	return false
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// value decodes node n into v, the field at path whose key is on line.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, line int) {
	n = resolve(n)
	if n == nil || isNull(n) {
		return // no value: keep the default
	}
	if v.Addr().Type().Implements(textUnmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			d.fail(line, path, "want %s, got %s", typeName(v.Type()), describe(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(line, path, "%s", err.Error())
			return
		}
		d.lines[path] = line
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(line, path, "want a mapping, got %s", describe(n))
			return
		}
		d.fields(n, v, path, map[string]bool{}, map[*yaml.Node]bool{})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(line, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), item.Line)
		}
		v.Set(s)
	default:
		if !d.scalar(n, v, path, line) {
			return
		}
	}
	if path != "" {
		d.lines[path] = line
	}
}

// scalar decodes a scalar node into a string, integer, float or bool v.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string, line int) bool {
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode {
		tag = ""
	}
	switch v.Kind() {
	case reflect.String:
		if tag == "!!str" {
			v.SetString(n.Value)
			return true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if tag == "!!float" && isDigits(strings.TrimLeft(n.Value, "+-")) {
			d.fail(line, path, "%s is out of range", n.Value)
			return false
		}
		if tag == "!!int" {
			var i int64
			if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
				d.fail(line, path, "%s is out of range", n.Value)
				return false
			}
			v.SetInt(i)
			return true
		}
	case reflect.Float32, reflect.Float64:
		if tag == "!!int" || tag == "!!float" {
			var f float64
			if err := n.Decode(&f); err != nil || v.OverflowFloat(f) {
				d.fail(line, path, "%s is out of range", n.Value)
				return false
			}
			v.SetFloat(f)
			return true
		}
	case reflect.Bool:
		if tag == "!!bool" {
			var b bool
			if err := n.Decode(&b); err == nil {
				v.SetBool(b)
				return true
			}
		}
	default:
		panic(fmt.Sprintf("config: field %s: unsupported type %s", path, v.Type()))
	}
	d.fail(line, path, "want %s, got %s", typeName(v.Type()), describe(n))
	return false
}

// fields decodes the pairs of mapping n into struct v, the value at path.
// Keys in done were set by an enclosing mapping (merge keys: explicit keys
// win over merged ones, earlier merges over later ones) and are skipped;
// visited holds the mappings already decoded into v, so aliases can neither
// loop nor blow up.
func (d *decoder) fields(n *yaml.Node, v reflect.Value, path string, done map[string]bool, visited map[*yaml.Node]bool) {
	if visited[n] {
		return
	}
	visited[n] = true
	fs := fieldsOf(v.Type())
	seen := map[string]int{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, line := resolve(n.Content[i]), n.Content[i].Line
		if key == nil || key.Kind != yaml.ScalarNode {
			d.fail(line, path, "a key must be a field name, got %s", describe(key))
			continue
		}
		name := key.Value
		fpath := join(path, name)
		if first, dup := seen[name]; dup {
			d.fail(line, fpath, "duplicate key (first at line %d)", first)
			continue
		}
		seen[name] = line
		if key.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		idx, ok := fs.index[name]
		if !ok {
			d.fail(line, fpath, "unknown field (known: %s)", strings.Join(fs.names, ", "))
			continue
		}
		if !done[name] {
			d.value(n.Content[i+1], v.Field(idx), fpath, line)
		}
	}
	for name := range seen {
		done[name] = true
	}
	for _, m := range merges {
		src := resolve(m)
		switch {
		case src != nil && src.Kind == yaml.MappingNode:
			d.fields(src, v, path, done, visited)
		case src != nil && src.Kind == yaml.SequenceNode:
			for _, item := range src.Content {
				if s := resolve(item); s != nil && s.Kind == yaml.MappingNode {
					d.fields(s, v, path, done, visited)
				} else {
					d.fail(item.Line, join(path, "<<"), "want a mapping to merge, got %s", describe(s))
				}
			}
		default:
			d.fail(m.Line, join(path, "<<"), "want a mapping or a list of mappings to merge, got %s", describe(src))
		}
	}
}

// structFields describes the YAML fields of a struct type.
type structFields struct {
	names []string       // YAML names in declaration order
	index map[string]int // YAML name → field index
}

// fieldsOf returns the fields of struct type t that have a yaml tag.
func fieldsOf(t reflect.Type) structFields {
	fs := structFields{index: map[string]int{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "" || name == "-" {
			continue
		}
		fs.names = append(fs.names, name)
		fs.index[name] = i
	}
	return fs
}

// join appends a field name to a dotted path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// isNull reports whether n is an explicit or empty null.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[Duration]()
)

// typeName names what a value of type t is written as, for messages.
func typeName(t reflect.Type) string {
	switch t {
	case sizeType:
		return "a size (e.g. 512KiB, 1MiB, 4GiB)"
	case durationType:
		return "a duration (e.g. 30s, 1h30m)"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return "a single value"
}

// describe says what node n is, for messages: `a list`, `"abc"`,
// `integer 5`.
func describe(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.DocumentNode:
		return "a document"
	}
	v := n.Value
	if utf8.RuneCountInString(v) > 40 {
		v = string([]rune(v)[:40]) + "..."
	}
	switch tag := n.ShortTag(); tag {
	case "!!str":
		return strconv.Quote(v)
	case "!!int":
		return "integer " + v
	case "!!float":
		return "number " + v
	case "!!bool":
		return "boolean " + v
	case "!!null":
		return "null"
	case "!!timestamp":
		return "timestamp " + v
	default:
		return tag + " " + strconv.Quote(v)
	}
}
