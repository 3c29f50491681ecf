package popularity

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Line is what the ranking needs of one access log line (see
// server.AccessEntry for the whole format).
type Line struct {
	// Day is the UTC day of the line's time, in days since 1970-01-01.
	Day int64
	// Path is the cache key. It aliases the parsed line or the Parser's
	// scratch buffer: it is valid until the next Parse.
	Path []byte
	// Status is the answer's status code.
	Status int
	// Bytes is the number of body bytes sent.
	Bytes int64
}

// ErrLine is wrapped by every error of Parse: the line is not an access
// log line this package can use.
var ErrLine = errors.New("bad access log line")

// Parser parses access log lines. It keeps a scratch buffer and the last
// date it converted, so it is not safe for concurrent use; the zero value
// is ready.
type Parser struct {
	scratch []byte // an escaped path
	keyBuf  []byte // an escaped field name
	stack   []byte // open arrays and objects while skipping a value
	lastDay [10]byte
	dayOK   bool
	day     int64
}

// Parse parses one line (without its newline; trailing white space is
// fine) into l. The line must be one JSON object with at least the fields
// "time" (an RFC 3339 string), "path" (a string), "status" and "bytes"
// (integers, bytes >= 0); other fields are checked for JSON syntax and
// ignored. A repeated field counts with its last value, as encoding/json
// decodes it. The error wraps ErrLine.
func (p *Parser) Parse(b []byte, l *Line) error {
	s := scanner{b: b}
	var have uint8
	const haveTime, havePath, haveStatus, haveBytes = 1, 2, 4, 8
	var timeRaw []byte
	var timeEsc bool
	s.ws()
	if !s.eat('{') {
		return lineErr("not a JSON object")
	}
	s.ws()
	if !s.eat('}') {
		for {
			s.ws()
			kraw, kesc, ok := s.str()
			if !ok {
				return lineErr("bad field name")
			}
			key := kraw[1 : len(kraw)-1]
			if kesc {
				k, err := unquote(p.keyBuf[:0], kraw)
				if err != nil {
					return err
				}
				key, p.keyBuf = k, k
			}
			s.ws()
			if !s.eat(':') {
				return lineErr("missing ':'")
			}
			s.ws()
			switch string(key) {
			case "time":
				raw, esc, ok := s.str()
				if !ok {
					return lineErr("time: want a string")
				}
				timeRaw, timeEsc = raw, esc
				have |= haveTime
			case "path":
				raw, esc, ok := s.str()
				if !ok {
					return lineErr("path: want a string")
				}
				l.Path = raw[1 : len(raw)-1]
				if esc {
					v, err := unquote(p.scratch[:0], raw)
					if err != nil {
						return err
					}
					l.Path, p.scratch = v, v
				}
				have |= havePath
			case "status":
				n, ok := s.integer()
				if !ok || n < 0 || n > 999 {
					return lineErr("status: want an integer 0..999")
				}
				l.Status = int(n)
				have |= haveStatus
			case "bytes":
				n, ok := s.integer()
				if !ok || n < 0 {
					return lineErr("bytes: want an integer >= 0")
				}
				l.Bytes = n
				have |= haveBytes
			default:
				if !p.skip(&s) {
					return lineErr("bad JSON value")
				}
			}
			s.ws()
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				break
			}
			return lineErr("want ',' or '}'")
		}
	}
	s.ws()
	if s.i != len(b) {
		return lineErr("text after the object")
	}
	if have != haveTime|havePath|haveStatus|haveBytes {
		return lineErr("missing one of time, path, status, bytes")
	}
	if timeEsc {
		var t string
		if err := json.Unmarshal(timeRaw, &t); err != nil {
			return lineErr("time: %v", err)
		}
		d, err := p.dayOf([]byte(t))
		if err != nil {
			return err
		}
		l.Day = d
		return nil
	}
	d, err := p.dayOf(timeRaw[1 : len(timeRaw)-1])
	if err != nil {
		return err
	}
	l.Day = d
	return nil
}

func lineErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrLine}, args...)...)
}

// unquote decodes a quoted JSON string with escapes (or bytes that are not
// ASCII) exactly as encoding/json does, appending it to dst.
func unquote(dst, raw []byte) ([]byte, error) {
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, lineErr("string: %v", err)
	}
	return append(dst, v...), nil
}

// dayOf returns the UTC day of an RFC 3339 time. The common form written
// by the daemon ("2026-01-05T20:15:02.123456789Z") is converted by hand,
// and the day of the last date seen is remembered; any other form goes
// through time.Parse.
func (p *Parser) dayOf(t []byte) (int64, error) {
	if fastTime(t) {
		if p.dayOK && string(t[:10]) == string(p.lastDay[:]) {
			return p.day, nil
		}
		y := atoi(t[0:4])
		m := atoi(t[5:7])
		d := atoi(t[8:10])
		if m >= 1 && m <= 12 && d >= 1 && d <= daysIn(y, m) {
			day := floorDiv(time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix(), 86400)
			copy(p.lastDay[:], t[:10])
			p.day, p.dayOK = day, true
			return day, nil
		}
	}
	tm, err := time.Parse(time.RFC3339Nano, string(t))
	if err != nil {
		return 0, lineErr("time: %v", err)
	}
	return floorDiv(tm.Unix(), 86400), nil
}

// fastTime reports whether t is "YYYY-MM-DDTHH:MM:SSZ", optionally with 1
// to 9 fraction digits before the Z, with hours, minutes and seconds in
// range (the date is checked by the caller).
func fastTime(t []byte) bool {
	n := len(t)
	if n < 20 || n > 30 || t[n-1] != 'Z' || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if t[i] < '0' || t[i] > '9' {
			return false
		}
	}
	if atoi(t[11:13]) > 23 || atoi(t[14:16]) > 59 || atoi(t[17:19]) > 59 {
		return false
	}
	if n == 20 {
		return true
	}
	if t[19] != '.' || n == 21 {
		return false
	}
	for _, c := range t[20 : n-1] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// scanner walks a JSON text.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str scans a string and returns it with its quotes; esc reports escapes
// or bytes that are not ASCII (which need encoding/json's decoding).
func (s *scanner) str() (raw []byte, esc, ok bool) {
	start := s.i
	if !s.eat('"') {
		return nil, false, false
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], esc, true
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				s.i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			if c >= 0x80 {
				esc = true
			}
			s.i++
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number scans a JSON number; integer reports that it had no fraction and
// no exponent.
func (s *scanner) number() (raw []byte, integer, ok bool) {
	start := s.i
	s.eat('-')
	switch {
	case s.eat('0'):
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return nil, false, false
	}
	integer = true
	if s.eat('.') {
		integer = false
		if s.digits() == 0 {
			return nil, false, false
		}
	}
	if s.eat('e') || s.eat('E') {
		integer = false
		if !s.eat('+') {
			s.eat('-')
		}
		if s.digits() == 0 {
			return nil, false, false
		}
	}
	return s.b[start:s.i], integer, true
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// integer scans a JSON number that must be an integer fitting an int64.
func (s *scanner) integer() (int64, bool) {
	raw, integer, ok := s.number()
	if !ok || !integer {
		return 0, false
	}
	neg := raw[0] == '-'
	if neg {
		raw = raw[1:]
	}
	if len(raw) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range raw {
		n = n*10 + uint64(c-'0')
	}
	switch {
	case !neg && n <= 1<<63-1:
		return int64(n), true
	case neg && n <= 1<<63:
		return -int64(n), true
	}
	return 0, false
}

// skip scans any JSON value, checking its syntax.
func (p *Parser) skip(s *scanner) bool {
	st := p.stack[:0]
	defer func() { p.stack = st[:0] }()
	for {
		// A value.
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch c := s.b[s.i]; {
		case c == '"':
			if _, _, ok := s.str(); !ok {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if _, _, ok := s.number(); !ok {
				return false
			}
		case c == '{':
			s.i++
			s.ws()
			if !s.eat('}') {
				st = append(st, '{')
				if !objectKey(s) {
					return false
				}
				continue
			}
		case c == '[':
			s.i++
			s.ws()
			if !s.eat(']') {
				st = append(st, '[')
				continue
			}
		case lit(s, "true"), lit(s, "false"), lit(s, "null"):
		default:
			return false
		}
		// After a value: close what ends, or go on to the next member.
		for {
			if len(st) == 0 {
				return true
			}
			s.ws()
			top := st[len(st)-1]
			if s.eat(',') {
				if top == '{' && !objectKey(s) {
					return false
				}
				break
			}
			if top == '{' && s.eat('}') || top == '[' && s.eat(']') {
				st = st[:len(st)-1]
				continue
			}
			return false
		}
	}
}

// objectKey scans `"key" :` of an object member.
func objectKey(s *scanner) bool {
	s.ws()
	if _, _, ok := s.str(); !ok {
		return false
	}
	s.ws()
	return s.eat(':')
}

// lit scans the literal word if it is next.
func lit(s *scanner, word string) bool {
	if len(s.b)-s.i >= len(word) && string(s.b[s.i:s.i+len(word)]) == word {
		s.i += len(word)
		return true
	}
	return false
}
