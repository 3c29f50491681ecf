package fill

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Window is a daily fill window: from Start to End, local wall-clock times
// in Location, every day. A window whose End is not after its Start
// crosses midnight ("22:00-02:00" runs from 22:00 to 02:00 the next day).
type Window struct {
	Start, End time.Duration // since midnight, in [0, 24h]; Start < 24h
	Location   *time.Location
}

// ParseWindow parses a window written "HH:MM-HH:MM" (24-hour clock; "24:00"
// is allowed as an end) in the IANA time zone tz ("" or "Local" for the
// machine's, "UTC" for UTC). An empty window (start equal to end) is an
// error.
func ParseWindow(s, tz string) (Window, error) {
	var w Window
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return w, fmt.Errorf("fill window %q: want HH:MM-HH:MM, e.g. 02:00-06:00", s)
	}
	var err error
	if w.Start, err = parseClock(strings.TrimSpace(a)); err != nil {
		return w, fmt.Errorf("fill window %q: start: %w", s, err)
	}
	if w.End, err = parseClock(strings.TrimSpace(b)); err != nil {
		return w, fmt.Errorf("fill window %q: end: %w", s, err)
	}
	if w.Start == 24*time.Hour {
		return w, fmt.Errorf("fill window %q: start: 24:00 is an end, not a start (write 00:00)", s)
	}
	if w.Start == w.End {
		return w, fmt.Errorf("fill window %q: empty (start equals end)", s)
	}
	switch tz {
	case "", "Local":
		w.Location = time.Local
	default:
		if w.Location, err = time.LoadLocation(tz); err != nil {
			return w, fmt.Errorf("fill timezone %q: %w", tz, err)
		}
	}
	return w, nil
}

// parseClock parses "HH:MM" as the time since midnight.
func parseClock(s string) (time.Duration, error) {
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) != 2 || len(m) != 2 {
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || h[0] == '+' || h[0] == '-' || m[0] == '+' || m[0] == '-' {
		return 0, fmt.Errorf("%q: want HH:MM", s)
	}
	if hh > 24 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q: not a time of day", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// String returns the window as ParseWindow reads it (without the zone).
func (w Window) String() string {
	f := func(d time.Duration) string {
		return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return f(w.Start) + "-" + f(w.End)
}

// errNoWindow cannot happen for a valid Window; Next returns it for a zero
// one.
var errNoWindow = errors.New("fill window: not set")

// Next returns the window that holds t, or else the next one to start after
// t: its start (at or before t if t is inside it) and its end (after t).
// Wall-clock times are those of w.Location, so a window keeps its local
// hours across daylight-saving changes (on the day of a change it may be an
// hour shorter or longer; a day on which it would be empty is skipped).
func (w Window) Next(t time.Time) (start, end time.Time, err error) {
	if w.Location == nil || w.Start == w.End {
		return time.Time{}, time.Time{}, errNoWindow
	}
	lt := t.In(w.Location)
	y, mo, d := lt.Date()
	// The window that started yesterday may still be open; the one of
	// today or tomorrow is next. A few more days cover zones whose
	// daylight-saving rules make a day's window empty.
	for day := -1; day <= 3; day++ {
		s := at(y, mo, d+day, w.Start, w.Location)
		endDay := d + day
		if w.End <= w.Start {
			endDay++
		}
		e := at(y, mo, endDay, w.End, w.Location)
		if !e.After(s) || !e.After(t) {
			continue
		}
		return s, e, nil
	}
	return time.Time{}, time.Time{}, errNoWindow
}

// Contains reports whether t is inside a window.
func (w Window) Contains(t time.Time) bool {
	s, _, err := w.Next(t)
	return err == nil && !s.After(t)
}

// at returns the time of day off (since midnight, up to 24h) on the given
// day in loc.
func at(y int, mo time.Month, d int, off time.Duration, loc *time.Location) time.Time {
	return time.Date(y, mo, d, int(off/time.Hour), int(off%time.Hour/time.Minute), 0, 0, loc)
}
