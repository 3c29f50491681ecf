package config

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	valid := []struct {
		in   string
		want Size
	}{
		{"0", 0},
		{"0B", 0},
		{"100B", 100},
		{"100", 100},
		{"007", 7},
		{"1KiB", 1024},
		{"64KiB", 64 << 10},
		{"1536KiB", 1536 << 10},
		{"512MiB", 512 << 20},
		{"4GiB", 4 << 30},
		{"1TiB", 1 << 40},
		{"1KB", 1000},
		{"10MB", 10_000_000},
		{"2GB", 2_000_000_000},
		{"3TB", 3_000_000_000_000},
		{"9223372036854775807", math.MaxInt64},
		{"9223372036854775807B", math.MaxInt64},
		{"8388607TiB", 8388607 << 40},
		{"9223372036854775KB", 9223372036854775000},
	}
	for _, tc := range valid {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}

	const notASize = "is not a size (want e.g. 512KiB, 1MiB, 4GiB)"
	invalid := []struct{ in, want string }{
		{"", `"" ` + notASize},
		{"1 MiB", `"1 MiB" ` + notASize},
		{" 1MiB", `" 1MiB" ` + notASize},
		{"1MiB ", `"1MiB " ` + notASize},
		{"1mib", `"1mib" ` + notASize},
		{"1MIB", `"1MIB" ` + notASize},
		{"1kb", `"1kb" ` + notASize},
		{"1Mi", `"1Mi" ` + notASize},
		{"1M", `"1M" ` + notASize},
		{"1PiB", `"1PiB" ` + notASize},
		{"1.5GiB", `"1.5GiB" ` + notASize},
		{"MiB", `"MiB" ` + notASize},
		{"+1MiB", `"+1MiB" ` + notASize},
		{"1e6", `"1e6" ` + notASize},
		{"0x10", `"0x10" ` + notASize},
		{"1_000", `"1_000" ` + notASize},
		{"1MiBB", `"1MiBB" ` + notASize},
		{"-", `"-" ` + notASize},
		{"--1", `"--1" ` + notASize},
		{"-1", `"-1" is not a size: sizes cannot be negative`},
		{"-1MiB", `"-1MiB" is not a size: sizes cannot be negative`},
		{"9223372036854775808", `"9223372036854775808" is too large (max 9223372036854775807 bytes)`},
		{"99999999999999999999999", `"99999999999999999999999" is too large (max 9223372036854775807 bytes)`},
		{"8388608TiB", `"8388608TiB" is too large (max 9223372036854775807 bytes)`},
		{"9223372036854776KB", `"9223372036854776KB" is too large (max 9223372036854775807 bytes)`},
		{"10000000TB", `"10000000TB" is too large (max 9223372036854775807 bytes)`},
	}
	for _, tc := range invalid {
		got, err := ParseSize(tc.in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want error", tc.in, got)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParseSize(%q) error = %q\nwant %q", tc.in, err, tc.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	cases := []struct {
		in   Size
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{100, "100B"},
		{1000, "1000B"},
		{1023, "1023B"},
		{KiB, "1KiB"},
		{64 * KiB, "64KiB"},
		{1536 * KiB, "1536KiB"},
		{MiB, "1MiB"},
		{512 * MiB, "512MiB"},
		{GiB, "1GiB"},
		{4 * GiB, "4GiB"},
		{TiB, "1TiB"},
		{1024 * TiB, "1024TiB"},
		{math.MaxInt64, "9223372036854775807B"},
		{-1, "-1B"},
		{-MiB, "-1048576B"},
	}
	for _, tc := range cases {
		if got := tc.in.String(); got != tc.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tc.in), got, tc.want)
		}
	}
}

func TestSizeRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(s Size) {
		t.Helper()
		got, err := ParseSize(s.String())
		if err != nil || got != s {
			t.Fatalf("ParseSize(%q) = %d, %v; want %d", s.String(), got, err, int64(s))
		}
	}
	for _, s := range []Size{0, 1, KiB - 1, KiB, KiB + 1, math.MaxInt64, math.MaxInt64 &^ (TiB - 1)} {
		check(s)
	}
	for range 10000 {
		n := r.Int64()
		check(Size(n))
		check(Size(n >> r.IntN(63)))
		check(Size(n &^ (1<<r.IntN(50) - 1)))
	}
}

func TestSizeText(t *testing.T) {
	var s Size = 7
	if err := s.UnmarshalText([]byte("2GiB")); err != nil || s != 2*GiB {
		t.Fatalf("UnmarshalText(2GiB) = %d, %v", int64(s), err)
	}
	if err := s.UnmarshalText([]byte("2 GiB")); err == nil || s != 2*GiB {
		t.Fatalf("UnmarshalText(2 GiB) = %d, %v; want error and no change", int64(s), err)
	}
	b, err := (1536 * KiB).MarshalText()
	if err != nil || string(b) != "1536KiB" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	if !strings.Contains(Size(5).String(), "5B") {
		t.Fatal("String")
	}
}
