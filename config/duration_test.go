package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	valid := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"30s", 30 * time.Second},
		{"500ms", 500 * time.Millisecond},
		{"1h30m", 90 * time.Minute},
		{"2h45m30s", 2*time.Hour + 45*time.Minute + 30*time.Second},
		{"1.5s", 1500 * time.Millisecond},
		{"-5s", -5 * time.Second},
		{"100us", 100 * time.Microsecond},
	}
	for _, tc := range valid {
		got, err := ParseDuration(tc.in)
		if err != nil || got.D() != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got.D(), err, tc.want)
		}
	}
	invalid := []struct{ in, want string }{
		{"30", `"30" has no unit: add one, e.g. 30s, 30ms or 30m`},
		{"1.5", `"1.5" has no unit: add one, e.g. 1.5s, 1.5ms or 1.5m`},
		{"-5", `"-5" has no unit: add one, e.g. -5s, -5ms or -5m`},
		{"", `"" is not a duration (want e.g. 30s, 500ms, 1h30m)`},
		{"30 s", `"30 s" is not a duration (want e.g. 30s, 500ms, 1h30m)`},
		{"1d", `"1d" is not a duration (want e.g. 30s, 500ms, 1h30m)`},
		{"s", `"s" is not a duration (want e.g. 30s, 500ms, 1h30m)`},
		{"1..5", `"1..5" is not a duration (want e.g. 30s, 500ms, 1h30m)`},
		{"9999999999h", `"9999999999h" is not a duration (want e.g. 30s, 500ms, 1h30m)`},
	}
	for _, tc := range invalid {
		got, err := ParseDuration(tc.in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want error", tc.in, got)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParseDuration(%q) error = %q\nwant %q", tc.in, err, tc.want)
		}
	}
}

func TestDurationString(t *testing.T) {
	cases := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{10 * time.Second, "10s"},
		{120 * time.Second, "2m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + 5*time.Second, "1h0m5s"},
		{500 * time.Millisecond, "500ms"},
		{-5 * time.Second, "-5s"},
		{100 * time.Hour, "100h"},
	}
	for _, tc := range cases {
		d := Duration(tc.in)
		if got := d.String(); got != tc.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tc.in, got, tc.want)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", d.String(), back, err, tc.in)
		}
		b, _ := d.MarshalText()
		var u Duration
		if err := u.UnmarshalText(b); err != nil || u != d {
			t.Errorf("text round trip of %v: %v, %v", tc.in, u, err)
		}
	}
}

func TestDurationFields(t *testing.T) {
	cfg, err := Parse("d.yaml", []byte("origin:\n  url: http://o\n  connect_timeout: 1h30m\ncache:\n  negative_ttl: 0\n  default_ttl: 500ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Origin.ConnectTimeout.D() != 90*time.Minute || cfg.Cache.NegativeTTL != 0 || cfg.Cache.DefaultTTL.D() != 500*time.Millisecond {
		t.Fatalf("got %+v %+v", cfg.Origin, cfg.Cache)
	}
	_, err = Parse("d.yaml", []byte("origin:\n  url: http://o\n  connect_timeout: 30\n"))
	want := `d.yaml:3: origin.connect_timeout: "30" has no unit: add one, e.g. 30s, 30ms or 30m`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}
