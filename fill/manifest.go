package fill

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// ManifestVersion is the only manifest format version this package reads.
const ManifestVersion = 1

// DefaultMaxManifestBytes is the default ParseOptions.MaxBytes: the most
// bytes of JSON a manifest may hold once decompressed (about a million
// files).
const DefaultMaxManifestBytes = 256 << 20

// MaxPathLength is the longest file path a manifest may name: the server's
// default server.max_path_length.
const MaxPathLength = 4096

// Manifest is what should be on the box: titles, each with a rank (lower
// is more popular) and the files that make it up. A Manifest returned by
// Parse or Load has been validated whole; it is not modified afterwards.
type Manifest struct {
	Version     int       `json:"version"`
	GeneratedAt time.Time `json:"generated_at,omitzero"`
	Titles      []Title   `json:"titles"`

	// Digest is the hex SHA-256 of the manifest's JSON (decompressed): the
	// identity of a fill job, so that a restarted runner given the same
	// manifest continues the same job.
	Digest string `json:"-"`
	// Raw is the manifest's JSON (decompressed), as parsed. The runner
	// keeps a copy of it to continue an interrupted job after a restart.
	Raw []byte `json:"-"`
}

// Title is one title of a manifest: its files are filled in the listed
// order, after every title of a lower rank.
type Title struct {
	ID    string `json:"id"`
	Rank  int    `json:"rank"`
	Files []File `json:"files"`
}

// File is one file of a title: its cache key (an absolute, normalized
// path), its size in bytes, and the hex SHA-256 of its bytes.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Entry is one file of a manifest in fill order (see Manifest.Plan).
type Entry struct {
	File
	Title string // the title's ID
	Rank  int    // the title's rank
	// Ordinal is the file's position in the manifest as listed (titles in
	// order, then their files), stable for a given manifest: job state
	// refers to files by it.
	Ordinal int
}

// Plan returns every file of m in fill order: titles by rank, lower first
// (titles of equal rank in listed order), each title's files in listed
// order.
func (m *Manifest) Plan() []Entry {
	type tref struct {
		t     *Title
		first int // ordinal of its first file
	}
	ts := make([]tref, len(m.Titles))
	n := 0
	for i := range m.Titles {
		ts[i] = tref{&m.Titles[i], n}
		n += len(m.Titles[i].Files)
	}
	slices.SortStableFunc(ts, func(a, b tref) int { return cmp.Compare(a.t.Rank, b.t.Rank) })
	out := make([]Entry, 0, n)
	for _, tr := range ts {
		for j, f := range tr.t.Files {
			out = append(out, Entry{File: f, Title: tr.t.ID, Rank: tr.t.Rank, Ordinal: tr.first + j})
		}
	}
	return out
}

// Files returns the number of files and their total size.
func (m *Manifest) Files() (files int, bytes int64) {
	for _, t := range m.Titles {
		files += len(t.Files)
		for _, f := range t.Files {
			bytes += f.Size
		}
	}
	return files, bytes
}

// ErrManifest is wrapped by every error that refuses a manifest's content
// (as opposed to failing to read it).
var ErrManifest = errors.New("manifest refused")

// ManifestError says why a manifest was refused and where: the byte offset
// in its JSON (decompressed) and the same as a line and column, both
// counted from 1, and the JSON path of the value at fault.
type ManifestError struct {
	Source string // file or URL, "" if unknown
	Offset int64  // byte offset in the JSON, from 0
	Line   int    // from 1
	Column int    // from 1, in bytes
	Field  string // e.g. "titles[2].files[0].sha256"; "" for the document or a syntax error
	Msg    string
}

// Error implements error: "SOURCE:LINE:COLUMN: FIELD: MSG".
func (e *ManifestError) Error() string {
	var b []byte
	if e.Source != "" {
		b = append(b, e.Source...)
		b = append(b, ':')
	}
	if e.Line > 0 {
		b = fmt.Appendf(b, "%d:%d:", e.Line, e.Column)
	}
	if len(b) > 0 {
		b = append(b, ' ')
	}
	if e.Field != "" {
		b = append(b, e.Field...)
		b = append(b, ": "...)
	}
	b = append(b, e.Msg...)
	return "manifest refused: " + string(b)
}

// Unwrap makes a ManifestError match ErrManifest.
func (e *ManifestError) Unwrap() error { return ErrManifest }

// ParseOptions configure Parse.
type ParseOptions struct {
	// Source names the manifest in errors (a file name or URL).
	Source string
	// MaxBytes bounds the manifest's JSON once decompressed; 0 means
	// DefaultMaxManifestBytes.
	MaxBytes int64
	// Normalize, if set, is the cache's key normalization (the daemon
	// passes the server's NormalizeTarget with its configured options): a
	// path is accepted only if Normalize returns it unchanged. If nil, a
	// strict built-in check is used (see CheckPath).
	Normalize func(path string) (string, error)
}

// Compression magic numbers.
var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Decompress returns data decompressed if it starts with the gzip or zstd
// magic number, else data itself; it refuses more than max bytes of
// output.
func Decompress(data []byte, max int64) ([]byte, error) {
	var r io.Reader
	switch {
	case bytes.HasPrefix(data, gzipMagic):
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("manifest: gzip: %w: %w", ErrManifest, err)
		}
		defer zr.Close()
		r = zr
	case bytes.HasPrefix(data, zstdMagic):
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(max)+1))
		if err != nil {
			return nil, fmt.Errorf("manifest: zstd: %w: %w", ErrManifest, err)
		}
		defer zr.Close()
		r = zr
	default:
		if int64(len(data)) > max {
			return nil, fmt.Errorf("manifest: %d bytes, more than the limit of %d: %w", len(data), max, ErrManifest)
		}
		return data, nil
	}
	out, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, fmt.Errorf("manifest: decompressing: %w: %w", ErrManifest, err)
	}
	if int64(len(out)) > max {
		return nil, fmt.Errorf("manifest: more than %d bytes once decompressed: %w", max, ErrManifest)
	}
	return out, nil
}

// Parse decompresses (gzip or zstd, told by the magic number) and parses a
// manifest, and validates all of it: the format version, every field's type
// and range, unknown or repeated fields, unique title IDs and file paths,
// sizes >= 0, SHA-256 as 64 hex digits, ranks >= 0, and paths that are
// absolute and normalized. Any fault refuses the whole manifest with a
// *ManifestError that gives its position; nothing of a refused manifest is
// returned.
func Parse(data []byte, opt ParseOptions) (*Manifest, error) {
	if opt.MaxBytes <= 0 {
		opt.MaxBytes = DefaultMaxManifestBytes
	}
	js, err := Decompress(data, opt.MaxBytes)
	if err != nil {
		return nil, err
	}
	p := parser{b: js, opt: &opt}
	// Syntax first, over the whole input, with the exact offset of the
	// first fault (the walk below may then assume well-formed JSON).
	var raw json.RawMessage
	if err := json.Unmarshal(js, &raw); err != nil {
		var se *json.SyntaxError
		off := int64(len(js)) // unexpected end of input
		if errors.As(err, &se) && !strings.HasPrefix(se.Error(), "unexpected end") {
			off = se.Offset - 1 // Offset counts the offending byte
		}
		return nil, p.errAt(off, "", "invalid JSON: %v", err)
	}
	p.dec = json.NewDecoder(bytes.NewReader(js))
	p.dec.UseNumber()
	m, err := p.manifest()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(js)
	m.Digest = hex.EncodeToString(sum[:])
	m.Raw = js
	return m, nil
}

// parser walks well-formed manifest JSON token by token, so that every
// fault is reported at the offset of the value at fault.
type parser struct {
	b   []byte
	dec *json.Decoder
	opt *ParseOptions
}

// errAt returns a *ManifestError at byte offset off.
func (p *parser) errAt(off int64, field, format string, args ...any) error {
	off = max(0, min(off, int64(len(p.b))))
	line, col := lineCol(p.b, off)
	return &ManifestError{Source: p.opt.Source, Offset: off, Line: line, Column: col, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// lineCol returns the 1-based line and byte column of offset off in b.
func lineCol(b []byte, off int64) (line, col int) {
	head := b[:off]
	line = 1 + bytes.Count(head, []byte{'\n'})
	col = int(off) - (bytes.LastIndexByte(head, '\n') + 1) + 1
	return line, col
}

// next returns the next token and the offset where it starts.
func (p *parser) next() (json.Token, int64, error) {
	off := p.dec.InputOffset()
	for off < int64(len(p.b)) {
		switch p.b[off] {
		case ' ', '\t', '\r', '\n', ',', ':':
			off++
			continue
		}
		break
	}
	t, err := p.dec.Token()
	if err != nil {
		// Cannot happen after the syntax check; reported all the same.
		return nil, off, p.errAt(off, "", "invalid JSON: %v", err)
	}
	return t, off, nil
}

// kind names a JSON token's kind for errors.
func kind(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "something else"
}

// object walks an object whose '{' was just read, calling field for each
// member with the key and the offset of its first value token, and refusing
// repeated keys. field must consume the value.
func (p *parser) object(path string, field func(key string, keyOff int64) error) error {
	seen := map[string]bool{}
	for p.dec.More() {
		t, off, err := p.next()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if seen[key] {
			return p.errAt(off, join(path, key), "repeated field")
		}
		seen[key] = true
		if err := field(key, off); err != nil {
			return err
		}
	}
	_, _, err := p.next() // '}'
	return err
}

// join returns the JSON path of member key of path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unknown refuses an unknown field (format version 1 is exact: a field it
// does not define is a typo or a newer format, and ignoring it could fill
// the wrong thing).
func (p *parser) unknown(path, key string, off int64) error {
	return p.errAt(off, join(path, key), "unknown field")
}

// value reads a value that must be of the given kind ("string", "number",
// "array", "object") and returns its token and offset.
func (p *parser) value(field, want string) (json.Token, int64, error) {
	t, off, err := p.next()
	if err != nil {
		return nil, off, err
	}
	ok := false
	switch want {
	case "string":
		_, ok = t.(string)
	case "number":
		_, ok = t.(json.Number)
	case "array":
		ok = t == json.Delim('[')
	case "object":
		ok = t == json.Delim('{')
	}
	if !ok {
		return nil, off, p.errAt(off, field, "want %s, got %s", article(want), kind(t))
	}
	return t, off, nil
}

// article names a kind of value for errors.
func article(kind string) string {
	if kind == "array" || kind == "object" {
		return "an " + kind
	}
	return "a " + kind
}

// integer reads an integer in [lo, hi].
func (p *parser) integer(field string, lo, hi int64) (int64, int64, error) {
	t, off, err := p.value(field, "number")
	if err != nil {
		return 0, off, err
	}
	n, err := strconv.ParseInt(string(t.(json.Number)), 10, 64)
	if err != nil {
		return 0, off, p.errAt(off, field, "want an integer, got %s", t)
	}
	if n < lo || n > hi {
		return 0, off, p.errAt(off, field, "%d is out of range [%d, %d]", n, lo, hi)
	}
	return n, off, nil
}

func (p *parser) manifest() (*Manifest, error) {
	m := &Manifest{}
	t, off, err := p.next()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('{') {
		return nil, p.errAt(off, "", "want an object, got %s", kind(t))
	}
	docOff := off
	var haveVersion, haveTitles bool
	ids := map[string]int64{}   // title ID → offset
	paths := map[string]int64{} // file path → offset
	err = p.object("", func(key string, keyOff int64) error {
		switch key {
		case "version":
			v, off, err := p.integer(key, 0, 1<<31)
			if err != nil {
				return err
			}
			if v != ManifestVersion {
				return p.errAt(off, key, "format version %d is not supported (this daemon reads version %d)", v, ManifestVersion)
			}
			m.Version, haveVersion = int(v), true
		case "generated_at":
			t, off, err := p.value(key, "string")
			if err != nil {
				return err
			}
			at, err := time.Parse(time.RFC3339Nano, t.(string))
			if err != nil {
				return p.errAt(off, key, "want an RFC 3339 time such as 2026-11-25T00:00:00Z, got %q", t)
			}
			m.GeneratedAt = at
		case "titles":
			if _, _, err := p.value(key, "array"); err != nil {
				return err
			}
			haveTitles = true
			for i := 0; p.dec.More(); i++ {
				title, err := p.title(fmt.Sprintf("titles[%d]", i), ids, paths)
				if err != nil {
					return err
				}
				m.Titles = append(m.Titles, title)
			}
			_, _, err := p.next() // ']'
			return err
		default:
			return p.unknown("", key, keyOff)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case !haveVersion:
		return nil, p.errAt(docOff, "version", "missing")
	case !haveTitles:
		return nil, p.errAt(docOff, "titles", "missing")
	}
	return m, nil
}

func (p *parser) title(path string, ids, paths map[string]int64) (Title, error) {
	var tt Title
	_, off, err := p.value(path, "object")
	if err != nil {
		return tt, err
	}
	start := off
	var haveID, haveRank, haveFiles bool
	err = p.object(path, func(key string, keyOff int64) error {
		field := join(path, key)
		switch key {
		case "id":
			t, off, err := p.value(field, "string")
			if err != nil {
				return err
			}
			id := t.(string)
			if id == "" {
				return p.errAt(off, field, "empty")
			}
			if prev, dup := ids[id]; dup {
				l, c := lineCol(p.b, prev)
				return p.errAt(off, field, "title %q already listed at %d:%d", id, l, c)
			}
			ids[id] = off
			tt.ID, haveID = id, true
		case "rank":
			r, _, err := p.integer(field, 0, 1<<31-1)
			if err != nil {
				return err
			}
			tt.Rank, haveRank = int(r), true
		case "files":
			if _, _, err := p.value(field, "array"); err != nil {
				return err
			}
			haveFiles = true
			for j := 0; p.dec.More(); j++ {
				f, err := p.file(fmt.Sprintf("%s.files[%d]", path, j), paths)
				if err != nil {
					return err
				}
				tt.Files = append(tt.Files, f)
			}
			_, _, err := p.next() // ']'
			return err
		default:
			return p.unknown(path, key, keyOff)
		}
		return nil
	})
	if err != nil {
		return tt, err
	}
	for _, miss := range []struct {
		have bool
		name string
	}{{haveID, "id"}, {haveRank, "rank"}, {haveFiles, "files"}} {
		if !miss.have {
			return tt, p.errAt(start, join(path, miss.name), "missing")
		}
	}
	return tt, nil
}

func (p *parser) file(path string, paths map[string]int64) (File, error) {
	var f File
	_, off, err := p.value(path, "object")
	if err != nil {
		return f, err
	}
	start := off
	var havePath, haveSize, haveSum bool
	err = p.object(path, func(key string, keyOff int64) error {
		field := join(path, key)
		switch key {
		case "path":
			t, off, err := p.value(field, "string")
			if err != nil {
				return err
			}
			fp := t.(string)
			if err := p.checkPath(fp); err != nil {
				return p.errAt(off, field, "%q: %v", fp, err)
			}
			if prev, dup := paths[fp]; dup {
				l, c := lineCol(p.b, prev)
				return p.errAt(off, field, "%q already listed at %d:%d", fp, l, c)
			}
			paths[fp] = off
			f.Path, havePath = fp, true
		case "size":
			n, _, err := p.integer(field, 0, 1<<62)
			if err != nil {
				return err
			}
			f.Size, haveSize = n, true
		case "sha256":
			t, off, err := p.value(field, "string")
			if err != nil {
				return err
			}
			s := t.(string)
			if !isHex64(s) {
				return p.errAt(off, field, "want 64 lower-case hex digits, got %q", s)
			}
			f.SHA256, haveSum = s, true
		default:
			return p.unknown(path, key, keyOff)
		}
		return nil
	})
	if err != nil {
		return f, err
	}
	for _, miss := range []struct {
		have bool
		name string
	}{{havePath, "path"}, {haveSize, "size"}, {haveSum, "sha256"}} {
		if !miss.have {
			return f, p.errAt(start, join(path, miss.name), "missing")
		}
	}
	return f, nil
}

// checkPath applies ParseOptions.Normalize, or CheckPath.
func (p *parser) checkPath(path string) error {
	if p.opt.Normalize == nil {
		return CheckPath(path)
	}
	if len(path) > MaxPathLength {
		return fmt.Errorf("longer than %d bytes", MaxPathLength)
	}
	n, err := p.opt.Normalize(path)
	if err != nil {
		return err
	}
	if n != path {
		return fmt.Errorf("not normalized: the cache key is %q", n)
	}
	return nil
}

// isHex64 reports whether s is 64 lower-case hex digits.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// CheckPath reports whether path is a cache key as the server's target
// normalization writes it, without a query: it starts with "/", has no
// empty, "." or ".." segment, and every byte is an unreserved character, a
// sub-delimiter, ":", "@" or "/" as it is, or a "%XX" escape (upper-case
// hex) of a byte that is none of those and not a control byte or a
// backslash (which the server refuses). Such a path is a fixed point of the
// server's normalization with default options. A path with a query, or
// spelled any other way, is refused; ParseOptions.Normalize replaces this
// check with the daemon's own normalization.
func CheckPath(path string) error {
	switch {
	case path == "" || path[0] != '/':
		return errors.New(`must start with "/"`)
	case len(path) > MaxPathLength:
		return fmt.Errorf("longer than %d bytes", MaxPathLength)
	}
	segStart := 1
	for i := 1; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		seg := path[segStart:i]
		last := i == len(path)
		switch {
		case seg == "" && !last:
			return errors.New(`empty segment ("//")`)
		case seg == "." || seg == "..":
			return fmt.Errorf("%q segment", seg)
		}
		if err := checkSegment(seg); err != nil {
			return err
		}
		segStart = i + 1
	}
	return nil
}

// checkSegment checks the bytes of one path segment (see CheckPath).
func checkSegment(seg string) error {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case plainByte(c):
		case c == '%':
			if i+2 >= len(seg) || !upperHex(seg[i+1]) || !upperHex(seg[i+2]) {
				return errors.New(`"%" not followed by two upper-case hex digits`)
			}
			b := unhex(seg[i+1])<<4 | unhex(seg[i+2])
			switch {
			case b < 0x20 || b == 0x7f:
				return fmt.Errorf("control byte %%%02X", b)
			case b == '\\':
				return errors.New("backslash (%5C)")
			case b == '/':
				return errors.New("encoded slash (%2F)")
			case plainByte(b):
				return fmt.Errorf("%%%02X is not canonical: write %q", b, string(rune(b)))
			}
			i += 2
		default:
			return fmt.Errorf("byte %q must be percent-encoded", c)
		}
	}
	return nil
}

// plainByte reports whether c appears as it is in a canonical segment:
// unreserved, sub-delims, ":" or "@" (RFC 3986 pchar without escapes).
func plainByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@':
		return true
	}
	return false
}

func upperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
