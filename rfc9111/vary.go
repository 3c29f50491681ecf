package rfc9111

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// VaryNames returns the request field names the Vary field of a response
// names (RFC 9110 §12.5.5), from all its lines: lower case, without
// duplicates, sorted. star reports Vary: * (RFC 9111 §4.1: the response
// never matches a later request, so it is not stored) and also a Vary
// element that is not a field name (e.g. "a b"), which the package treats
// like * rather than guess; names is nil then. Empty elements are skipped.
func VaryNames(respHeader http.Header) (names []string, star bool) {
	for _, line := range respHeader["Vary"] {
		for el := range strings.SplitSeq(line, ",") {
			el = trimOWS(el)
			if el == "" {
				continue
			}
			if el == "*" || !isToken(el) {
				return nil, true
			}
			names = append(names, strings.ToLower(el))
		}
	}
	slices.Sort(names)
	return slices.Compact(names), false
}

// VariantKey returns the secondary cache key (RFC 9111 §4.1) of a request
// for a response that varies on names (as returned by VaryNames): for each
// name, in order, the name and the normalized value of that request field,
// lines separated by "\n". Two requests get the same key when their fields
// match in the sense of §4.1; a missing field ("name") differs from an empty
// one ("name=").
//
// Normalization: all field lines of a field are combined into one list
// (RFC 9110 §5.3); then
//   - Accept-Encoding: content codings lower-cased, x-gzip and x-compress
//     read as gzip and compress (RFC 9110 §8.4.1), codings with q=0 dropped,
//     other weights dropped (every listed coding is acceptable to the
//     client, so any response the origin chose for one list is acceptable
//     for another with the same codings), sorted, deduplicated;
//   - Accept-Language: language ranges lower-cased, q=0 dropped, sorted by
//     weight then name, weights other than 1 kept (they decide which
//     language the origin sends), deduplicated;
//   - any other field: whitespace around commas and at the ends removed,
//     other runs of spaces and tabs made one space, except inside quoted
//     strings.
//
// An Accept-Encoding or Accept-Language with an invalid qvalue, or more
// than 16 members, is normalized like any other field. Backslashes and
// newlines in values are escaped, so keys never collide.
func VariantKey(names []string, reqHeader http.Header) string {
	var b strings.Builder
	n := 0
	for _, name := range names {
		n += len(name) + 2
		for _, v := range reqHeader[canonicalName(name)] {
			n += len(v) + 1
		}
	}
	b.Grow(n)
	for i, name := range names {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(name)
		vals := reqHeader[canonicalName(name)]
		if len(vals) == 0 {
			continue
		}
		b.WriteByte('=')
		switch {
		case eqFold(name, "accept-encoding"):
			if writeWeighted(&b, vals, false) {
				continue
			}
		case eqFold(name, "accept-language"):
			if writeWeighted(&b, vals, true) {
				continue
			}
		}
		writeGeneric(&b, vals)
	}
	return b.String()
}

// canonicalName returns the canonical form of a field name, without
// allocating for the common ones.
func canonicalName(name string) string {
	switch name {
	case "accept-encoding":
		return "Accept-Encoding"
	case "accept-language":
		return "Accept-Language"
	case "accept":
		return "Accept"
	case "origin":
		return "Origin"
	case "user-agent":
		return "User-Agent"
	case "cookie":
		return "Cookie"
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

// writeByte writes c to b, escaping the key's separator.
func writeByte(b *strings.Builder, c byte) {
	switch c {
	case '\\':
		b.WriteString(`\\`)
	case '\n':
		b.WriteString(`\n`)
	default:
		b.WriteByte(c)
	}
}

// writeGeneric writes the lines of a field as one whitespace-normalized
// list.
func writeGeneric(b *strings.Builder, vals []string) {
	atStart, space, inQ, esc := true, false, false, false
	put := func(c byte) {
		switch {
		case inQ:
			writeByte(b, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inQ = false
			}
		case c == ' ' || c == '\t':
			space = !atStart
		case c == ',':
			b.WriteByte(',')
			atStart, space = true, false
		default:
			if space {
				b.WriteByte(' ')
				space = false
			}
			atStart = false
			writeByte(b, c)
			inQ = c == '"'
		}
	}
	for i, v := range vals {
		if i > 0 {
			put(',')
		}
		for j := 0; j < len(v); j++ {
			put(v[j])
		}
	}
}

type weighted struct {
	tok string // as received; compared and written lower-cased
	q   int    // thousandths
}

// writeWeighted writes an Accept-Encoding (lang false) or Accept-Language
// (lang true) list in normal form. It writes nothing and returns false when
// the list cannot be normalized.
func writeWeighted(b *strings.Builder, vals []string, lang bool) bool {
	var buf [16]weighted
	n := 0
	for _, v := range vals {
		for el := range strings.SplitSeq(v, ",") {
			tok, params, _ := strings.Cut(el, ";")
			tok = trimOWS(tok)
			if tok == "" {
				continue
			}
			if !isToken(tok) {
				return false
			}
			q := 1000
			for params != "" {
				var p string
				p, params, _ = strings.Cut(params, ";")
				k, val, _ := strings.Cut(p, "=")
				if eqFold(trimOWS(k), "q") {
					var ok bool
					if q, ok = parseQ(trimOWS(val)); !ok {
						return false
					}
				}
			}
			if q == 0 {
				continue
			}
			if !lang {
				q = 1000
				switch {
				case eqFold(tok, "x-gzip"):
					tok = "gzip"
				case eqFold(tok, "x-compress"):
					tok = "compress"
				}
			}
			if n == len(buf) {
				return false
			}
			buf[n] = weighted{tok, q}
			n++
		}
	}
	ws := buf[:n]
	// Insertion sort: q descending, then name; few elements, no allocation.
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && lessW(ws[j], ws[j-1]); j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
	for i, w := range ws {
		if i > 0 && cmpFold(w.tok, ws[i-1].tok) == 0 {
			continue // same token, lower or equal weight
		}
		if i > 0 {
			b.WriteByte(',')
		}
		for j := 0; j < len(w.tok); j++ {
			c := w.tok[j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			b.WriteByte(c)
		}
		if w.q < 1000 {
			b.WriteString(";q=0.")
			d := []byte{byte('0' + w.q/100), byte('0' + w.q/10%10), byte('0' + w.q%10)}
			for len(d) > 1 && d[len(d)-1] == '0' {
				d = d[:len(d)-1]
			}
			b.Write(d)
		}
	}
	return true
}

// lessW orders by weight, descending, then by name.
func lessW(a, b weighted) bool {
	if a.q != b.q {
		return a.q > b.q
	}
	return cmpFold(a.tok, b.tok) < 0
}

// cmpFold compares ASCII strings ignoring case.
func cmpFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return int(ca) - int(cb)
		}
	}
	return len(a) - len(b)
}

// parseQ parses a qvalue (RFC 9110 §12.4.2) into thousandths.
func parseQ(s string) (int, bool) {
	if s == "" || s[0] != '0' && s[0] != '1' {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' || len(s) > 5 {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || q == 1000 && c != '0' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return q, true
}

// varyStar reports what VaryNames reports as star, without allocating.
func varyStar(h http.Header) bool {
	for _, line := range h["Vary"] {
		for el := range strings.SplitSeq(line, ",") {
			el = trimOWS(el)
			if el != "" && (el == "*" || !isToken(el)) {
				return true
			}
		}
	}
	return false
}
