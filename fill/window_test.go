package fill

import (
	"testing"
	"time"
)

func TestParseWindow(t *testing.T) {
	for _, tc := range []struct {
		in, tz     string
		start, end time.Duration
		ok         bool
	}{
		{"02:00-06:00", "UTC", 2 * time.Hour, 6 * time.Hour, true},
		{" 22:30 - 02:15 ", "Europe/Berlin", 22*time.Hour + 30*time.Minute, 2*time.Hour + 15*time.Minute, true},
		{"00:00-24:00", "", 0, 24 * time.Hour, true},
		{"23:00-00:00", "UTC", 23 * time.Hour, 0, true},
		{"02:00-02:00", "UTC", 0, 0, false},
		{"24:00-02:00", "UTC", 0, 0, false},
		{"2:00-6:00", "UTC", 0, 0, false},
		{"02:00", "UTC", 0, 0, false},
		{"02:60-03:00", "UTC", 0, 0, false},
		{"25:00-03:00", "UTC", 0, 0, false},
		{"24:30-03:00", "UTC", 0, 0, false},
		{"+1:00-03:00", "UTC", 0, 0, false},
		{"02:00-06:00", "Mars/Olympus", 0, 0, false},
	} {
		w, err := ParseWindow(tc.in, tc.tz)
		if (err == nil) != tc.ok {
			t.Errorf("ParseWindow(%q, %q) err = %v, want ok %v", tc.in, tc.tz, err, tc.ok)
			continue
		}
		if tc.ok && (w.Start != tc.start || w.End != tc.end) {
			t.Errorf("ParseWindow(%q) = %v-%v, want %v-%v", tc.in, w.Start, w.End, tc.start, tc.end)
		}
	}
}

func TestWindowNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	utc := func(s string) time.Time {
		tt, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tt
	}
	for _, tc := range []struct {
		window, tz string
		now        string
		start, end string
		inside     bool
	}{
		{"02:00-06:00", "UTC", "2026-11-25T01:00:00Z", "2026-11-25T02:00:00Z", "2026-11-25T06:00:00Z", false},
		{"02:00-06:00", "UTC", "2026-11-25T02:00:00Z", "2026-11-25T02:00:00Z", "2026-11-25T06:00:00Z", true},
		{"02:00-06:00", "UTC", "2026-11-25T05:59:59Z", "2026-11-25T02:00:00Z", "2026-11-25T06:00:00Z", true},
		{"02:00-06:00", "UTC", "2026-11-25T06:00:00Z", "2026-11-26T02:00:00Z", "2026-11-26T06:00:00Z", false},
		// Crossing midnight: inside before and after it, and between.
		{"22:00-02:00", "UTC", "2026-11-25T23:00:00Z", "2026-11-25T22:00:00Z", "2026-11-26T02:00:00Z", true},
		{"22:00-02:00", "UTC", "2026-11-26T01:00:00Z", "2026-11-25T22:00:00Z", "2026-11-26T02:00:00Z", true},
		{"22:00-02:00", "UTC", "2026-11-26T12:00:00Z", "2026-11-26T22:00:00Z", "2026-11-27T02:00:00Z", false},
		{"23:00-00:00", "UTC", "2026-11-26T23:30:00Z", "2026-11-26T23:00:00Z", "2026-11-27T00:00:00Z", true},
		{"00:00-24:00", "UTC", "2026-11-26T12:00:00Z", "2026-11-26T00:00:00Z", "2026-11-27T00:00:00Z", true},
		// Local hours in a zone: 02:00-06:00 Berlin is 01:00-05:00 UTC in winter.
		{"02:00-06:00", "Europe/Berlin", "2026-11-25T00:30:00Z", "2026-11-25T01:00:00Z", "2026-11-25T05:00:00Z", false},
		// The night summer time starts (2026-03-29, 02:00 → 03:00): the window is an hour shorter.
		{"01:00-06:00", "Europe/Berlin", "2026-03-29T00:30:00Z", "2026-03-29T00:00:00Z", "2026-03-29T04:00:00Z", true},
		// The night it ends (2026-10-25, 03:00 → 02:00): an hour longer.
		{"01:00-06:00", "Europe/Berlin", "2026-10-24T23:30:00Z", "2026-10-24T23:00:00Z", "2026-10-25T05:00:00Z", true},
	} {
		w, err := ParseWindow(tc.window, tc.tz)
		if err != nil {
			t.Fatal(err)
		}
		_ = berlin
		now := utc(tc.now)
		s, e, err := w.Next(now)
		if err != nil || !s.Equal(utc(tc.start)) || !e.Equal(utc(tc.end)) {
			t.Errorf("%s %s at %s: Next = %v, %v, %v; want %s, %s", tc.window, tc.tz, tc.now, s.UTC(), e.UTC(), err, tc.start, tc.end)
		}
		if w.Contains(now) != tc.inside {
			t.Errorf("%s %s at %s: Contains = %v", tc.window, tc.tz, tc.now, !tc.inside)
		}
	}
	if _, _, err := (Window{}).Next(time.Now()); err == nil {
		t.Error("zero Window: no error")
	}
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"02:00-06:00", "22:00-02:00", "00:00-24:00", "23:59-00:00", "1:00-2:00", "aa:bb-cc:dd", "-"} {
		f.Add(s, "Europe/Berlin", int64(1795000000))
	}
	f.Add("02:00-03:00", "America/Sao_Paulo", int64(0))
	f.Add("01:30-02:30", "Australia/Lord_Howe", int64(1790000000))
	f.Fuzz(func(t *testing.T, s, tz string, unix int64) {
		if tz == "Local" || tz == "" {
			tz = "UTC"
		}
		w, err := ParseWindow(s, tz)
		if err != nil {
			return
		}
		w2, err := ParseWindow(w.String(), tz)
		if err != nil || w2.Start != w.Start || w2.End != w.End {
			t.Fatalf("%q: String %q parses to %v, %v", s, w.String(), w2, err)
		}
		now := time.Unix(unix%(1<<36), 0)
		start, end, err := w.Next(now)
		if err != nil {
			t.Fatalf("%q in %s at %v: %v", s, tz, now, err)
		}
		if !end.After(start) || !end.After(now) || end.Sub(start) > 25*time.Hour || start.Sub(now) > 49*time.Hour {
			t.Fatalf("%q in %s at %v: Next = %v, %v", s, tz, now, start, end)
		}
		if w.Contains(now) != !start.After(now) {
			t.Fatalf("Contains disagrees with Next")
		}
	})
}
