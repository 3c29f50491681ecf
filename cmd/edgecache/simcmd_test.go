package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// simTrace writes a small trace file: a b c a d b a, repeated, unit sizes
// except d.
func simTrace(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("# time key size\n")
	for i := range 50 {
		for _, k := range []string{"a", "b", "c", "a", "d", "b", "a", "e" + string(rune('0'+i%10))} {
			size := "1"
			if k == "d" {
				size = "3"
			}
			b.WriteString("100 " + k + " " + size + "\n")
		}
	}
	p := filepath.Join(t.TempDir(), "small.tr")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runSimulate(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cmdBenchSimulate(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBenchSimulateTable(t *testing.T) {
	path := simTrace(t)
	code, out, errOut := runSimulate("--trace", path, "--size", "50%,4,1KiB")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"400 requests", "14 distinct keys", "lru", "2q", "arc", "s3fifo", "tinylfu", "belady", "50% (", "1.00KiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// One row per size after the header line.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[len(lines)-1], "1.00KiB") || !strings.HasPrefix(lines[len(lines)-2], "4B") {
		t.Errorf("unexpected table:\n%s", out)
	}
}

func TestBenchSimulateJSON(t *testing.T) {
	path := simTrace(t)
	code, out, errOut := runSimulate("--trace", path, "--json", "--policy", "lru,belady", "--size", "2,100%", "--parallel", "1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var res []struct {
		Trace          string  `json:"trace"`
		SizeSpec       string  `json:"size_spec"`
		Policy         string  `json:"policy"`
		Size           int64   `json:"size"`
		Requests       int64   `json:"requests"`
		Hits           int64   `json:"hits"`
		ObjectHitRatio float64 `json:"object_hit_ratio"`
		ByteHitRatio   float64 `json:"byte_hit_ratio"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, out)
	}
	if len(res) != 4 {
		t.Fatalf("got %d results, want 4:\n%s", len(res), out)
	}
	// 100% of the unique bytes: 13 unit keys + d (3) = 16 bytes; nothing
	// is evicted, so every request but the first of each key hits.
	want := []struct {
		policy, spec string
		size         int64
	}{{"lru", "2", 2}, {"belady", "2", 2}, {"lru", "100%", 16}, {"belady", "100%", 16}}
	for i, w := range want {
		r := res[i]
		if r.Policy != w.policy || r.SizeSpec != w.spec || r.Size != w.size || r.Trace != path || r.Requests != 400 {
			t.Errorf("result %d: %+v, want %s at %s (%d bytes)", i, r, w.policy, w.spec, w.size)
		}
	}
	if res[2].Hits != 400-14 || res[3].Hits != 400-14 {
		t.Errorf("at 100%%: hits %d and %d, want %d", res[2].Hits, res[3].Hits, 400-14)
	}
	if res[1].Hits < res[0].Hits {
		t.Errorf("belady %d hits < lru %d", res[1].Hits, res[0].Hits)
	}
}

func TestBenchSimulateErrors(t *testing.T) {
	path := simTrace(t)
	bad := filepath.Join(t.TempDir(), "bad.tr")
	if err := os.WriteFile(bad, []byte("1 a 1\n2 b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.tr")
	tests := []struct {
		name string
		args []string
		code int
		msg  []string
	}{
		{"no trace", nil, 2, []string{"--trace FILE is required"}},
		{"unknown policy", []string{"--trace", path, "--policy", "lru,fifo"}, 2,
			[]string{`unknown policy "fifo"`, "lru, 2q, arc, s3fifo, tinylfu, belady"}},
		{"bad size", []string{"--trace", path, "--size", "10 GiB"}, 2, []string{"--size"}},
		{"bad percentage", []string{"--trace", path, "--size", "-5%"}, 2, []string{"--size"}},
		{"empty size item", []string{"--trace", path, "--size", "1%,,5%"}, 2, []string{"empty item"}},
		{"bad parallel", []string{"--trace", path, "--parallel", "0"}, 2, []string{"--parallel"}},
		{"bad flag", []string{"--trace", path, "--nope"}, 2, []string{"nope"}},
		{"extra argument", []string{"--trace", path, "extra"}, 2, []string{`"extra"`}},
		{"missing file", []string{"--trace", missing}, 1, []string{missing}},
		{"malformed trace", []string{"--trace", bad}, 1, []string{bad + ":2: "}},
		{"percentage below a byte", []string{"--trace", path, "--size", "0.001%"}, 1, []string{path}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runSimulate(tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			for _, m := range tt.msg {
				if !strings.Contains(errOut, m) {
					t.Errorf("stderr %q lacks %q", errOut, m)
				}
			}
		})
	}
	if code, _, errOut := runSimulate("--help"); code != 0 || !strings.Contains(errOut, "--policy") {
		t.Errorf("--help: exit %d, stderr %q", code, errOut)
	}
}
