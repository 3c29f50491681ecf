package config

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written in Go syntax: "30s", "1h30m", "500ms".
// A bare number other than 0 is an error: it needs a unit.
type Duration time.Duration

// ParseDuration parses a duration with time.ParseDuration, but rejects a
// bare number (other than "0") with a message asking for a unit.
func ParseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err == nil {
		return Duration(d), nil
	}
	if isBareNumber(s) {
		return 0, fmt.Errorf("%q has no unit: add one, e.g. %[1]ss, %[1]sms or %[1]sm", s)
	}
	return 0, fmt.Errorf("%q is not a duration (want e.g. 30s, 500ms, 1h30m)", s)
}

// isBareNumber reports whether s is an optionally signed decimal number
// without a unit, like "30", "-5" or "1.5".
func isBareNumber(s string) bool {
	s = strings.TrimLeft(s, "+-")
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.String, without zero trailing units:
// "30s", "2m", "1h", "1h30m", "500ms", "0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalText formats d as String does.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText parses text with ParseDuration; d is unchanged on error.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}
