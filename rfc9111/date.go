package rfc9111

import "time"

// ParseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7) in exactly one of its
// three formats, case-sensitively as the grammar says:
//
//	Sun, 06 Nov 1994 08:49:37 GMT   ; IMF-fixdate
//	Sunday, 06-Nov-94 08:49:37 GMT  ; obsolete RFC 850 format
//	Sun Nov  6 08:49:37 1994        ; ANSI C's asctime() format
//
// Leading and trailing spaces and tabs are ignored (they are not part of a
// field value). Nothing else is accepted: no other time zone, no numeric
// offset, no single-digit fields, no lower-case names, no day of month
// past the month's end. The day name is checked for syntax only, as in the
// grammar. A second of 60 (RFC 5322 leap second) is accepted and read as
// the next minute. A two-digit RFC 850 year is placed within 50 years of
// the current year, as §5.6.7 requires ("more than 50 years in the future"
// means the past century).
//
// Callers treat a failed parse per the field: an invalid Expires means
// already expired (RFC 9111 §5.3), an invalid Date or Last-Modified is
// ignored.
func ParseHTTPDate(s string) (time.Time, bool) {
	return parseHTTPDate(s, time.Time{})
}

// parseHTTPDate is ParseHTTPDate with the current time for RFC 850 years;
// a zero now means time.Now().
func parseHTTPDate(s string, now time.Time) (time.Time, bool) {
	s = trimOWS(s)
	switch {
	case len(s) == 29 && s[3] == ',':
		// Sun, 06 Nov 1994 08:49:37 GMT
		if s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25] != ' ' || s[26:] != "GMT" ||
			dayName(s[:3]) < 0 {
			return time.Time{}, false
		}
		day, ok1 := num2(s[5:7])
		mon := month(s[8:11])
		year, ok2 := num4(s[12:16])
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		return mkDate(year, mon, day, s[17:25])
	case len(s) == 24 && s[3] == ' ':
		// Sun Nov  6 08:49:37 1994
		if dayName(s[:3]) < 0 || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
			return time.Time{}, false
		}
		mon := month(s[4:7])
		var day int
		var ok1 bool
		if s[8] == ' ' {
			day, ok1 = int(s[9]-'0'), s[9] >= '0' && s[9] <= '9'
		} else {
			day, ok1 = num2(s[8:10])
		}
		year, ok2 := num4(s[20:24])
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		return mkDate(year, mon, day, s[11:19])
	default:
		// Sunday, 06-Nov-94 08:49:37 GMT
		c := -1
		for i := 6; i <= 9 && i < len(s); i++ {
			if s[i] == ',' {
				c = i
				break
			}
		}
		if c < 0 || len(s) != c+24 || !longDayName(s[:c]) {
			return time.Time{}, false
		}
		r := s[c+1:] // " 06-Nov-94 08:49:37 GMT"
		if r[0] != ' ' || r[3] != '-' || r[7] != '-' || r[10] != ' ' || r[19] != ' ' || r[20:] != "GMT" {
			return time.Time{}, false
		}
		day, ok1 := num2(r[1:3])
		mon := month(r[4:7])
		yy, ok2 := num2(r[8:10])
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		if now.IsZero() {
			now = time.Now()
		}
		ny := now.UTC().Year()
		year := ny - ny%100 + yy
		if year > ny+50 {
			year -= 100
		} else if year <= ny-50 {
			year += 100
		}
		return mkDate(year, mon, day, r[11:19])
	}
}

// mkDate validates the fields and hh:mm:ss in t and builds the UTC time.
func mkDate(year int, mon time.Month, day int, t string) (time.Time, bool) {
	if mon == 0 || day < 1 || day > daysIn(mon, year) || t[2] != ':' || t[5] != ':' {
		return time.Time{}, false
	}
	hh, ok1 := num2(t[0:2])
	mm, ok2 := num2(t[3:5])
	ss, ok3 := num2(t[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	return time.Date(year, mon, day, hh, mm, ss, 0, time.UTC), true
}

func num2(s string) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

func num4(s string) (int, bool) {
	a, ok1 := num2(s[:2])
	b, ok2 := num2(s[2:])
	return a*100 + b, ok1 && ok2
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

const months = "JanFebMarAprMayJunJulAugSepOctNovDec"

// month returns the month named by the three letters s, or 0.
func month(s string) time.Month {
	for i := 0; i < 12; i++ {
		if months[3*i:3*i+3] == s {
			return time.Month(i + 1)
		}
	}
	return 0
}

const days = "MonTueWedThuFriSatSun"

func dayName(s string) int {
	for i := 0; i < 7; i++ {
		if days[3*i:3*i+3] == s {
			return i
		}
	}
	return -1
}

func longDayName(s string) bool {
	switch s {
	case "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday":
		return true
	}
	return false
}
