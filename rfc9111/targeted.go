package rfc9111

import (
	"net/http"
	"strings"
)

// ParseCDNCacheControl parses the CDN-Cache-Control field of h (RFC 9213),
// a Structured Fields Dictionary (RFC 8941 §3.2, parsed as RFC 9651, which
// also admits Dates and Display Strings). ok is false when the field is
// absent, empty or not a valid Dictionary: RFC 9213 §2.1 says such a field
// is ignored as a whole, and the cache falls back to Cache-Control.
//
// Members use the Dictionary rules: keys are lower case (so "MaX-aGe=1"
// makes the whole field invalid), a repeated key keeps its last value,
// parameters are ignored. A directive whose value does not have the type
// RFC 9213 §2.1 infers for it (an Integer >= 0 for max-age, s-maxage,
// stale-while-revalidate and stale-if-error, e.g. not max-age="60") is not
// used. A Boolean false (no-store=?0) means the directive is absent. As in
// ParseCacheControl, no-store, no-cache, private, must-revalidate,
// proxy-revalidate and no-transform count with any other value, while
// public, immutable and must-understand count only as Boolean true.
// no-cache and private may name fields as a String ("a, b") or an Inner
// List of Tokens or Strings.
//
// The result has Targeted set and never Invalid.
func ParseCDNCacheControl(h http.Header) (d Directives, ok bool) {
	lines := h["Cdn-Cache-Control"]
	var s string
	switch len(lines) {
	case 0:
		return Directives{}, false
	case 1:
		s = lines[0]
	default:
		s = strings.Join(lines, ", ") // RFC 8941 §4.2
	}
	p := sfParser{s: s}
	n, valid := p.dict(&d)
	if !valid || n == 0 {
		return Directives{}, false
	}
	d.Targeted = true
	return d, true
}

// ParseSurrogateControl parses the Surrogate-Control field of h (W3C Edge
// Architecture Specification 1.0, §2.2): the directives its origin gives
// surrogates (CDN caches) in place of Cache-Control and Expires, as
// CDN-Cache-Control does since RFC 9213. ok is true when the field has a
// max-age or no-store (no-store-remote counts as no-store: an edge box is
// a remote surrogate) that applies to every surrogate; the result then has
// Targeted set.
//
// A directive targeted at one surrogate's device token ("max-age=60;box")
// is not used: this cache advertises no token (Surrogate-Capability). Names
// are case-insensitive; max-age takes delta-seconds, with the
// specification's "+" extension ("max-age=60+30") read as its first
// number; anything else (spaces around "=", a quoted value) is not used.
func ParseSurrogateControl(h http.Header) (d Directives, ok bool) {
	for _, line := range h["Surrogate-Control"] {
		for item := range strings.SplitSeq(line, ",") {
			item = trimOWS(item)
			if strings.IndexByte(item, ';') >= 0 {
				continue // targeted at a device token
			}
			name, val, hasVal := strings.Cut(item, "=")
			switch {
			case eqFold(name, "max-age") && hasVal:
				val, _, _ = strings.Cut(val, "+")
				if n, valid := parseDelta(val); valid {
					d.MaxAge = Delta{Seconds: n, Set: true}
					ok = true
				}
			case (eqFold(name, "no-store") || eqFold(name, "no-store-remote")) && !hasVal:
				d.NoStore = true
				ok = true
			}
		}
	}
	d.Targeted = ok
	return d, ok
}

type sfKind uint8

const (
	sfBool sfKind = iota + 1
	sfInteger
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfDate
	sfDisplay
	sfInner
)

// sfItem is a parsed bare item or inner list. str is the raw text: a
// String's content (escaped when esc), a Token, or an Inner List's text
// between the parentheses.
type sfItem struct {
	kind sfKind
	b    bool
	n    int64
	str  string
	esc  bool
}

func (it sfItem) isFalse() bool { return it.kind == sfBool && !it.b }
func (it sfItem) isTrue() bool  { return it.kind == sfBool && it.b }

type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// dict parses a whole field value as a Dictionary (RFC 8941 §4.2.2),
// applying each member to d in order, and returns the number of members.
func (p *sfParser) dict(d *Directives) (int, bool) {
	p.skipSP()
	n := 0
	for !p.eof() {
		key, ok := p.key()
		if !ok {
			return n, false
		}
		it := sfItem{kind: sfBool, b: true}
		if !p.eof() && p.s[p.i] == '=' {
			p.i++
			if it, ok = p.itemOrInner(); !ok {
				return n, false
			}
		} else if !p.params() {
			return n, false
		}
		applyTargeted(d, key, it)
		n++
		p.skipOWS()
		if p.eof() {
			return n, true
		}
		if p.s[p.i] != ',' {
			return n, false
		}
		p.i++
		p.skipOWS()
		if p.eof() {
			return n, false // trailing comma
		}
	}
	return n, true
}

// key parses a key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, bool) {
	start := p.i
	if p.eof() {
		return "", false
	}
	if c := p.s[p.i]; !(c >= 'a' && c <= 'z' || c == '*') {
		return "", false
	}
	p.i++
	for !p.eof() {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*' {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i], true
}

// itemOrInner parses an Item or an Inner List, with their parameters.
func (p *sfParser) itemOrInner() (sfItem, bool) {
	if p.eof() || p.s[p.i] != '(' {
		it, ok := p.bareItem()
		return it, ok && p.params()
	}
	p.i++
	start := p.i
	for !p.eof() {
		p.skipSP()
		if p.eof() {
			break
		}
		if p.s[p.i] == ')' {
			it := sfItem{kind: sfInner, str: p.s[start:p.i]}
			p.i++
			return it, p.params()
		}
		if _, ok := p.bareItem(); !ok || !p.params() {
			return sfItem{}, false
		}
		if p.eof() || p.s[p.i] != ' ' && p.s[p.i] != ')' {
			return sfItem{}, false
		}
	}
	return sfItem{}, false
}

// params parses *( ";" *SP key [ "=" bare-item ] ), discarding them.
func (p *sfParser) params() bool {
	for !p.eof() && p.s[p.i] == ';' {
		p.i++
		p.skipSP()
		if _, ok := p.key(); !ok {
			return false
		}
		if !p.eof() && p.s[p.i] == '=' {
			p.i++
			if _, ok := p.bareItem(); !ok {
				return false
			}
		}
	}
	return true
}

func (p *sfParser) bareItem() (sfItem, bool) {
	if p.eof() {
		return sfItem{}, false
	}
	switch c := p.s[p.i]; {
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == '"':
		return p.str()
	case c == '*' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		start := p.i
		p.i++
		for !p.eof() && (isTchar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfItem{kind: sfToken, str: p.s[start:p.i]}, true
	case c == ':':
		p.i++
		for !p.eof() {
			c := p.s[p.i]
			p.i++
			switch {
			case c == ':':
				return sfItem{kind: sfBytes}, true
			case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
			default:
				return sfItem{}, false
			}
		}
		return sfItem{}, false
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return sfItem{kind: sfBool, b: p.s[p.i-1] == '1'}, true
		}
		return sfItem{}, false
	case c == '@':
		p.i++
		it, ok := p.number()
		return sfItem{kind: sfDate, n: it.n}, ok && it.kind == sfInteger
	case c == '%':
		return p.display()
	}
	return sfItem{}, false
}

// number parses an Integer or Decimal (RFC 8941 §4.2.4).
func (p *sfParser) number() (sfItem, bool) {
	neg := false
	if !p.eof() && p.s[p.i] == '-' {
		neg = true
		p.i++
	}
	if p.eof() || p.s[p.i] < '0' || p.s[p.i] > '9' {
		return sfItem{}, false
	}
	var n int64
	digits, frac, dot := 0, 0, false
	for !p.eof() {
		c := p.s[p.i]
		if c == '.' && !dot {
			if digits > 12 {
				return sfItem{}, false
			}
			dot = true
			p.i++
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		p.i++
		if dot {
			frac++
			if frac > 3 {
				return sfItem{}, false
			}
			continue
		}
		digits++
		if digits > 15 {
			return sfItem{}, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	if dot {
		if frac == 0 {
			return sfItem{}, false
		}
		return sfItem{kind: sfDecimal, n: n}, true
	}
	return sfItem{kind: sfInteger, n: n}, true
}

// str parses a String (RFC 8941 §4.2.5).
func (p *sfParser) str() (sfItem, bool) {
	p.i++
	start, esc := p.i, false
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case c == '\\':
			if p.i+1 >= len(p.s) || p.s[p.i+1] != '"' && p.s[p.i+1] != '\\' {
				return sfItem{}, false
			}
			esc = true
			p.i += 2
			continue
		case c == '"':
			it := sfItem{kind: sfString, str: p.s[start:p.i], esc: esc}
			p.i++
			return it, true
		case c < 0x20 || c > 0x7e:
			return sfItem{}, false
		}
		p.i++
	}
	return sfItem{}, false
}

// display parses a Display String (RFC 9651 §4.2.10), without checking
// that the percent-decoded bytes are UTF-8.
func (p *sfParser) display() (sfItem, bool) {
	p.i++
	if p.eof() || p.s[p.i] != '"' {
		return sfItem{}, false
	}
	p.i++
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case c == '%':
			if p.i+2 >= len(p.s) || !isLowerHex(p.s[p.i+1]) || !isLowerHex(p.s[p.i+2]) {
				return sfItem{}, false
			}
			p.i += 3
			continue
		case c == '"':
			p.i++
			return sfItem{kind: sfDisplay}, true
		case c < 0x20 || c > 0x7e:
			return sfItem{}, false
		}
		p.i++
	}
	return sfItem{}, false
}

func isLowerHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }

// applyTargeted sets the directive key of d from the member value it,
// replacing what an earlier member with the same key set.
func applyTargeted(d *Directives, key string, it sfItem) {
	restrictive := !it.isFalse()
	switch key {
	case "max-age":
		d.MaxAge = sfDelta(it)
	case "s-maxage":
		d.SMaxAge = sfDelta(it)
	case "stale-while-revalidate":
		d.StaleWhileRevalidate = sfDelta(it)
	case "stale-if-error":
		d.StaleIfError = sfDelta(it)
	case "no-store":
		d.NoStore = restrictive
	case "no-cache":
		d.NoCache, d.NoCacheFields = sfFields(it)
	case "private":
		d.Private, d.PrivateFields = sfFields(it)
	case "must-revalidate":
		d.MustRevalidate = restrictive
	case "proxy-revalidate":
		d.ProxyRevalidate = restrictive
	case "no-transform":
		d.NoTransform = restrictive
	case "public":
		d.Public = it.isTrue()
	case "immutable":
		d.Immutable = it.isTrue()
	case "must-understand":
		d.MustUnderstand = it.isTrue()
	}
}

func sfDelta(it sfItem) Delta {
	if it.kind != sfInteger || it.n < 0 {
		return Delta{}
	}
	return Delta{Seconds: min(it.n, MaxDelta), Set: true}
}

// sfFields reads a no-cache or private member: (unqualified, field names).
func sfFields(it sfItem) (bool, []string) {
	switch it.kind {
	case sfBool:
		return it.b, nil
	case sfString:
		s := it.str
		if it.esc {
			s = unquote(s)
		}
		if names, ok := fieldNames(s, nil); ok {
			return false, names
		}
	case sfInner:
		var names []string
		q := sfParser{s: it.str}
		for {
			q.skipSP()
			if q.eof() {
				break
			}
			el, ok := q.bareItem()
			if !ok || !q.params() {
				return true, nil
			}
			s := el.str
			if el.kind == sfString && el.esc {
				s = unquote(s)
			}
			if el.kind != sfToken && el.kind != sfString || !isToken(s) {
				return true, nil
			}
			names, _ = fieldNames(s, names)
		}
		if len(names) > 0 {
			return false, names
		}
	}
	return true, nil
}
