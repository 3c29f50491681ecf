package config

import (
	"errors"
	"os"
	"testing"
)

func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("example.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"~\n",
		"origin:\n  url: http://o\n",
		"origin:\n  url: http://o\n  tmeout: 3s\ncache:\n  chunk_size: 1 MiB\n",
		"origin: {url: http://o, url: x}\n",
		"cache:\n  key_query_params: [a, [b], {c: d}, ~]\n",
		"a: b: c\n",
		"origin: {url: x\n",
		"- a\nb: 1\n",
		"listen: \"a\x01b\"\n",
		"listen: a\xffb\n",
		"a: 1\n---\nb: 2\n",
		"cache: *nope\n",
		"cache: &a\n  <<: *a\n",
		"server: &s {read_timeout: 1s}\nlog: {<<: [*s, *s]}\n",
		"server:\n  max_ranges: 99999999999999999999\n  min_send_rate: -1\n",
		"? [a]\n: b\n",
		"42\n",
		"\xef\xbb\xbforigin:\n  url: http://o\n",
		"\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err == nil {
			if cfg == nil {
				t.Fatal("no Config and no error")
			}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Parse succeeded but Validate fails: %v", err)
			}
			return
		}
		var errs Errors
		if !errors.As(err, &errs) {
			t.Fatalf("error %v is %T, not Errors", err, err)
		}
		if len(errs) == 0 {
			t.Fatal("empty Errors returned as an error")
		}
		for _, e := range errs {
			if e == nil || e.Line < 0 || e.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("bad error %#v", e)
			}
		}
		_ = err.Error()
	})
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "100B", "64KiB", "1536KiB", "512MiB", "4GiB", "1TiB", "10MB", "3TB",
		"9223372036854775807", "8388607TiB", "8388608TiB", "1 MiB", "-1MiB", "", "1.5GiB", "007KiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseSize(%q) = %d with error %v", s, int64(n), err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, int64(n))
		}
		back, err := ParseSize(n.String())
		if err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d; ParseSize(%q) = %d, %v", s, int64(n), n.String(), int64(back), err)
		}
	})
}
