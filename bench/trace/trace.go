// Package trace reads request traces: one request per line, as published
// CDN traces (for example the Wikipedia CDN traces) and the traces under
// shared/traces are written.
//
// Two formats are read, detected from the content:
//
//   - whitespace-separated lines "time key size" (spaces or tabs, exactly
//     three fields); blank lines and lines starting with '#' are skipped;
//   - CSV with a header line naming the columns "time", "key" and "size"
//     in any order (names are case-insensitive, extra columns are ignored;
//     "time" and "size" may be absent, giving Time 0 and Size 1). Fields may
//     be double-quoted, with "" for a quote inside; a quoted field cannot
//     span lines. Blank lines are skipped.
//
// The first line that is neither blank nor a '#' comment decides the
// format: it is a CSV header if it contains a comma and one of its
// comma-separated fields is "key". Either format may be gzip-compressed;
// compression is detected from the gzip magic bytes, not the file name.
// Lines may end in LF or CRLF.
//
// A time is an integer or a decimal ("1234.56"); Request.Time holds its
// integer part. A size is a positive decimal integer of bytes; traces
// without sizes write 1.
//
// Reading is streaming and fast: Next allocates only the key string, and
// NextBytes allocates nothing.
package trace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
)

// Request is one line of a trace.
type Request struct {
	// Time is the request time as written in the trace (seconds or
	// whatever unit the trace uses), truncated to its integer part; 0 if
	// the trace has no time column.
	Time int64
	// Key is the object key; never empty.
	Key string
	// Size is the object size in bytes, >= 1 (traces without sizes
	// write 1).
	Size int64
}

// Error is a malformed line of a trace.
type Error struct {
	// File is the name the trace was opened with.
	File string
	// Line is the 1-based line number of the malformed line.
	Line int
	// Msg says what is wrong.
	Msg string
}

// Error renders the error as "FILE:LINE: MSG".
func (e *Error) Error() string {
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
}

// Buffer sizes: reads from the source and the longest line accepted.
const (
	readBufSize = 1 << 20
	maxLineSize = 64 << 20
)

// format is the detected line format.
type format int

const (
	formatUnknown format = iota // not yet detected
	formatFields                // "time key size"
	formatCSV                   // CSV with a header
)

// Reader reads requests one at a time from a trace. It is not safe for
// concurrent use.
type Reader struct {
	name string
	sc   *bufio.Scanner
	gz   *gzip.Reader // non-nil if the input is gzip-compressed
	file *os.File     // non-nil if opened by Open
	line int          // number of the last line read
	err  error        // sticky error (io.EOF at the end)

	format format
	// CSV column indexes (-1 if absent) and the number of columns needed.
	timeCol, keyCol, sizeCol, ncols int
	fields                          [][]byte // CSV field scratch
	unquoted                        []byte   // CSV unquoting scratch
}

// NewReader returns a Reader over r. It detects gzip compression from the
// first bytes of r; the line format is detected on the first call to Next.
// name is used in error messages. Closing the Reader does not close r.
func NewReader(r io.Reader, name string) (*Reader, error) {
	br := bufio.NewReaderSize(r, readBufSize)
	src := io.Reader(br)
	var gz *gzip.Reader
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading trace %s: %w", name, err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err = gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading trace %s: %w", name, err)
		}
		src = gz
	}
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, readBufSize), maxLineSize)
	return &Reader{name: name, sc: sc, gz: gz, timeCol: -1, keyCol: -1, sizeCol: -1}, nil
}

// Open opens the trace file at path and returns a Reader over it; Close
// closes the file. Errors name path.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening trace: %w", err)
	}
	r, err := NewReader(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.file = f
	return r, nil
}

// Close releases the Reader: it closes the gzip stream and, for a Reader
// from Open, the file.
func (r *Reader) Close() error {
	var errs []error
	if r.gz != nil {
		errs = append(errs, r.gz.Close())
		r.gz = nil
	}
	if r.file != nil {
		if err := r.file.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing trace: %w", err))
		}
		r.file = nil
	}
	if r.err == nil {
		r.err = errors.New("trace: reader closed")
	}
	return errors.Join(errs...)
}

// Name returns the name given to NewReader or the path given to Open.
func (r *Reader) Name() string { return r.name }

// Next returns the next request. At the end of the trace it returns io.EOF;
// a malformed line gives an *Error naming the file and line; an I/O or
// decompression failure gives an error wrapping the cause. Errors are
// sticky: once Next fails, it returns the same error.
func (r *Reader) Next() (Request, error) {
	t, key, size, err := r.NextBytes()
	if err != nil {
		return Request{}, err
	}
	return Request{Time: t, Key: string(key), Size: size}, nil
}

// NextBytes is Next without allocating: key aliases the Reader's buffer and
// is valid only until the next call to Next or NextBytes.
func (r *Reader) NextBytes() (time int64, key []byte, size int64, err error) {
	if r.err != nil {
		return 0, nil, 0, r.err
	}
	for r.sc.Scan() {
		r.line++
		line := r.sc.Bytes() // the Scanner has dropped "\n" and a "\r" before it
		if len(line) == 0 {
			continue
		}
		switch r.format {
		case formatFields:
			if line[0] == '#' || isSpace(line[0]) && isBlank(line) {
				continue
			}
			time, key, size, err = r.parseFields(line)
		case formatCSV:
			if isBlank(line) {
				continue
			}
			time, key, size, err = r.parseCSV(line)
		default:
			if line[0] == '#' || isBlank(line) {
				continue
			}
			if isCSVHeader(line) {
				if err := r.parseHeader(line); err != nil {
					r.err = err
					return 0, nil, 0, err
				}
				continue
			}
			r.format = formatFields
			time, key, size, err = r.parseFields(line)
		}
		if err != nil {
			r.err = err
		}
		return time, key, size, err
	}
	switch err := r.sc.Err(); {
	case err == nil:
		r.err = io.EOF
	case errors.Is(err, bufio.ErrTooLong):
		r.err = r.errorf(r.line+1, "line longer than %d bytes", maxLineSize)
	default:
		r.err = fmt.Errorf("reading trace %s after line %d: %w", r.name, r.line, err)
	}
	return 0, nil, 0, r.err
}

// errorf returns an *Error at line.
func (r *Reader) errorf(line int, format string, args ...any) *Error {
	return &Error{File: r.name, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// isSpace reports whether c separates fields in the whitespace format.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// isBlank reports whether line holds only whitespace.
func isBlank(line []byte) bool {
	for _, c := range line {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

// nextField returns the first whitespace-separated field of line and the
// rest of line after it.
func nextField(line []byte) (field, rest []byte) {
	i := 0
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	j := i
	for j < len(line) && !isSpace(line[j]) {
		j++
	}
	return line[i:j], line[j:]
}

// parseFields parses a "time key size" line.
func (r *Reader) parseFields(line []byte) (int64, []byte, int64, error) {
	tf, rest := nextField(line)
	key, rest := nextField(rest)
	sf, rest := nextField(rest)
	if len(sf) == 0 {
		n := 1
		if len(key) > 0 {
			n = 2
		}
		return 0, nil, 0, r.errorf(r.line, "want 3 fields \"time key size\", got %d", n)
	}
	if extra, _ := nextField(rest); len(extra) > 0 {
		return 0, nil, 0, r.errorf(r.line, "want 3 fields \"time key size\", got more: %q", truncate(extra))
	}
	t, ok := parseTime(tf)
	if !ok {
		return 0, nil, 0, r.errorf(r.line, "bad time %q: want an integer or decimal number", truncate(tf))
	}
	size, msg := parseSize(sf)
	if msg != "" {
		return 0, nil, 0, r.errorf(r.line, "%s", msg)
	}
	return t, key, size, nil
}

// parseCSV parses a CSV data line against the header's columns.
func (r *Reader) parseCSV(line []byte) (int64, []byte, int64, error) {
	fields, err := r.splitCSV(line)
	if err != nil {
		return 0, nil, 0, r.errorf(r.line, "%s", err)
	}
	if len(fields) < r.ncols {
		return 0, nil, 0, r.errorf(r.line, "want at least %d CSV fields, got %d", r.ncols, len(fields))
	}
	key := fields[r.keyCol]
	if len(key) == 0 {
		return 0, nil, 0, r.errorf(r.line, "empty key")
	}
	var t int64
	if r.timeCol >= 0 {
		tf := bytes.TrimSpace(fields[r.timeCol])
		var ok bool
		if t, ok = parseTime(tf); !ok {
			return 0, nil, 0, r.errorf(r.line, "bad time %q: want an integer or decimal number", truncate(tf))
		}
	}
	size := int64(1)
	if r.sizeCol >= 0 {
		var msg string
		if size, msg = parseSize(bytes.TrimSpace(fields[r.sizeCol])); msg != "" {
			return 0, nil, 0, r.errorf(r.line, "%s", msg)
		}
	}
	return t, key, size, nil
}

// isCSVHeader reports whether line is a CSV header: it has a comma and a
// field named "key".
func isCSVHeader(line []byte) bool {
	if bytes.IndexByte(line, ',') < 0 {
		return false
	}
	for f := range bytes.SplitSeq(line, []byte{','}) {
		if bytes.EqualFold(bytes.Trim(bytes.TrimSpace(f), `"`), []byte("key")) {
			return true
		}
	}
	return false
}

// parseHeader reads the CSV header line and switches to the CSV format.
func (r *Reader) parseHeader(line []byte) error {
	fields, err := r.splitCSV(line)
	if err != nil {
		return r.errorf(r.line, "CSV header: %s", err)
	}
	for i, f := range fields {
		var col *int
		switch string(bytes.ToLower(bytes.TrimSpace(f))) {
		case "time":
			col = &r.timeCol
		case "key":
			col = &r.keyCol
		case "size":
			col = &r.sizeCol
		default:
			continue
		}
		if *col >= 0 {
			return r.errorf(r.line, "CSV header: column %q appears twice", bytes.TrimSpace(f))
		}
		*col = i
		r.ncols = max(r.ncols, i+1)
	}
	if r.keyCol < 0 {
		return r.errorf(r.line, "CSV header has no key column")
	}
	r.format = formatCSV
	return nil
}

// splitCSV splits a CSV line into fields, which alias the line or the
// Reader's scratch buffers.
func (r *Reader) splitCSV(line []byte) ([][]byte, error) {
	fields := r.fields[:0]
	if bytes.IndexByte(line, '"') < 0 { // fast path: no quoting
		for f := range bytes.SplitSeq(line, []byte{','}) {
			fields = append(fields, f)
		}
		r.fields = fields
		return fields, nil
	}
	r.unquoted = r.unquoted[:0]
	for {
		// Leading spaces before a quote are allowed.
		i := 0
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i < len(line) && line[i] == '"' {
			start := len(r.unquoted)
			j := i + 1
			for {
				k := bytes.IndexByte(line[j:], '"')
				if k < 0 {
					return nil, errors.New("unterminated quoted CSV field")
				}
				r.unquoted = append(r.unquoted, line[j:j+k]...)
				j += k + 1
				if j < len(line) && line[j] == '"' { // "" is a quote
					r.unquoted = append(r.unquoted, '"')
					j++
					continue
				}
				break
			}
			// The capacity is capped so that later appends to unquoted
			// never write into this field.
			fields = append(fields, r.unquoted[start:len(r.unquoted):len(r.unquoted)])
			for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
				j++
			}
			if j == len(line) {
				break
			}
			if line[j] != ',' {
				return nil, errors.New("text after a quoted CSV field")
			}
			line = line[j+1:]
			continue
		}
		c := bytes.IndexByte(line, ',')
		if c < 0 {
			fields = append(fields, line)
			break
		}
		if bytes.IndexByte(line[:c], '"') >= 0 {
			return nil, errors.New("quote inside an unquoted CSV field")
		}
		fields = append(fields, line[:c])
		line = line[c+1:]
	}
	r.fields = fields
	return fields, nil
}

// parseTime parses an integer or a decimal number ("1234", "1234.56",
// "-3") and returns its integer part.
func parseTime(b []byte) (int64, bool) {
	intPart := b
	if dot := bytes.IndexByte(b, '.'); dot >= 0 {
		frac := b[dot+1:]
		if len(frac) == 0 {
			return 0, false
		}
		for _, c := range frac {
			if c < '0' || c > '9' {
				return 0, false
			}
		}
		intPart = b[:dot]
	}
	neg := false
	if len(intPart) > 0 && (intPart[0] == '-' || intPart[0] == '+') {
		neg = intPart[0] == '-'
		intPart = intPart[1:]
	}
	t, ok := parseUint(intPart)
	if neg {
		t = -t
	}
	return t, ok
}

// parseUint parses a non-empty string of decimal digits that fits in an
// int64.
func parseUint(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		d := int64(c) - '0'
		if d < 0 || d > 9 || n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseSize parses a positive decimal integer; msg says what is wrong.
func parseSize(b []byte) (size int64, msg string) {
	size, ok := parseUint(b)
	if !ok {
		return 0, fmt.Sprintf("bad size %q: want a positive integer of bytes", truncate(b))
	}
	if size < 1 {
		return 0, fmt.Sprintf("bad size %q: sizes must be at least 1", truncate(b))
	}
	return size, ""
}

// truncate shortens b for an error message.
func truncate(b []byte) string {
	const n = 40
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
