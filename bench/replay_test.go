package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgecache/bench/trace"
	"edgecache/origin"
)

// weirdKeys need escaping to be one path segment.
var weirdKeys = []string{"a/b", "..", ".", "%2F", "ключ", "q?x=1#f", strings.Repeat("z/", 150)}

func writeTrace(t *testing.T, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trace.txt")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplay(t *testing.T) {
	e := newEdge(t, origin.SyntheticOptions{})
	var lines []string
	// 10 objects with sizes, 5 without (size 1: the default size), each
	// requested 4 times, plus keys that need escaping.
	for round := range 4 {
		for k := range 10 {
			lines = append(lines, fmt.Sprintf("%d obj%d %d", round*100+k, k, 100_000+k*70_001))
		}
		for k := range 5 {
			lines = append(lines, fmt.Sprintf("%d nosize%d 1", round*100+50+k, k))
		}
	}
	for i, k := range weirdKeys {
		lines = append(lines, fmt.Sprintf("%d %s 4096", 1000+i, k))
	}
	cfg := DefaultReplayConfig()
	cfg.Trace = writeTrace(t, lines)
	cfg.Target = e.cache
	cfg.Origin = e.origin
	cfg.Concurrency = 4
	cfg.DefaultSize = 300_000
	cfg.VerifyAll = true
	res, err := Replay(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, []*Result{res}, nil, false); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	if res.Requests != int64(len(lines)) || res.Errors != 0 || res.Verified != res.Requests {
		t.Fatalf("%d requests (want %d), %d errors %q, %d verified", res.Requests, len(lines), res.Errors, res.FirstErrors, res.Verified)
	}
	var want int64
	for k := range 10 {
		want += 4 * int64(100_000+k*70_001)
	}
	want += 4 * 5 * 300_000
	want += int64(len(weirdKeys)) * 4096
	if res.Bytes != want {
		t.Errorf("%d body bytes, want %d", res.Bytes, want)
	}
	if res.HitRatio == nil || *res.HitRatio < 0.5 || res.ByteHitRatio == nil || *res.ByteHitRatio < 0.5 {
		t.Errorf("hit ratio %s, byte hit ratio %s, want > 50%%", fmtPct(res.HitRatio), fmtPct(res.ByteHitRatio))
	}
	// 15+7 distinct objects, each fetched from the origin about once.
	if o := res.OriginRequests; o == nil || *o < 22 || *o > 60 {
		t.Errorf("origin requests %s", fmtIntPtr(o))
	}
	if res.Trace != cfg.Trace || !strings.Contains(buf.String(), "byte hit ratio") {
		t.Errorf("trace %q / table:\n%s", res.Trace, buf.String())
	}

	// A cap on requests.
	cfg.Requests = 7
	res, err = Replay(context.Background(), cfg)
	if err != nil || res.Requests != 7 {
		t.Errorf("capped replay: %d requests, %v", res.Requests, err)
	}
}

func TestReplayBadTrace(t *testing.T) {
	e := newEdge(t, origin.SyntheticOptions{})
	cfg := DefaultReplayConfig()
	cfg.Trace = writeTrace(t, []string{"1 a 100", "2 b 200", "3 c notasize", "4 d 100"})
	cfg.Target = e.cache
	res, err := Replay(context.Background(), cfg)
	var te *trace.Error
	if !errors.As(err, &te) || te.Line != 3 {
		t.Fatalf("error %v, want a *trace.Error on line 3", err)
	}
	if res == nil || res.Requests != 2 || res.Errors != 0 {
		t.Errorf("result %+v, want the 2 requests before the bad line", res)
	}
	cfg.Trace = filepath.Join(t.TempDir(), "missing")
	if _, err := Replay(context.Background(), cfg); err == nil {
		t.Error("missing trace accepted")
	}
}

func TestReplayCatchesCorruption(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	bad := httptestServer(t, corruptAt(syn, 5000))
	cfg := DefaultReplayConfig()
	cfg.Trace = writeTrace(t, []string{"1 a 100000", "2 b 4000", "3 c 1"})
	cfg.Target = bad
	cfg.VerifyAll = true
	res, err := Replay(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// a (100000 bytes) and c (default 1 MiB) are corrupted, b is too short to be.
	if res.Errors != 2 || res.Requests != 3 {
		t.Errorf("%d errors in %d requests, want 2 in 3: %q", res.Errors, res.Requests, res.FirstErrors)
	}
}

func TestReplayPath(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	keys := append([]string{"plain", "obj-1.mp4", "k", "xk", "6b"}, weirdKeys...)
	keys = append(keys, strings.Repeat("a", 201), strings.Repeat("a", 200))
	seen := map[string]string{}
	for _, k := range keys {
		p := ReplayPath(k, 12345)
		if prev, dup := seen[p]; dup {
			t.Errorf("keys %q and %q both map to %s", prev, k, p)
		}
		seen[p] = k
		if size, ok := syn.SizeOf(p); !ok || size != 12345 {
			t.Errorf("%q → %s: origin size %d, %v", k, p, size, ok)
		}
		name := strings.TrimPrefix(p, "/s/12345/")
		if strings.ContainsAny(name, "/%?#") || name == "." || name == ".." || len(name) > 401 {
			t.Errorf("%q → unsafe segment %q", k, name)
		}
	}
	if ReplayPath("a", 1<<20) == ReplayPath("a", 2<<20) {
		t.Error("sizes do not separate objects")
	}
}
