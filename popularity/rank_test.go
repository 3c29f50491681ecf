package popularity

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"

	"edgecache/fill"
	"edgecache/origin"
)

// aggOf reads log lines into an Aggregate.
func aggOf(t *testing.T, lines ...string) *Aggregate {
	t.Helper()
	a := NewAggregate()
	if err := a.Read(context.Background(), strings.NewReader(strings.Join(lines, "")), "log"); err != nil {
		t.Fatal(err)
	}
	if a.Stats().Bad > 0 {
		t.Fatalf("bad lines: %v", a.Stats().BadExamples)
	}
	return a
}

func TestWeightsDecay(t *testing.T) {
	a := aggOf(t,
		logLine("2026-01-01", "/v/a/1", 206, 1000), // 4 days before the newest: out of a 3-day window
		logLine("2026-01-03", "/v/a/1", 206, 400),  // 2 days
		logLine("2026-01-04", "/v/a/1", 206, 200),  // 1 day
		logLine("2026-01-05", "/v/a/1", 206, 100),  // today
		logLine("2026-01-06", "/v/b/1", 206, 100),  // after Today when Today is given
	)
	tests := []struct {
		name string
		w    Weighting
		want float64
	}{
		{"half-life 1 day", Weighting{Days: 3, HalfLife: 1, Today: day(2026, 1, 5), HasToday: true}, 100 + 200*0.5 + 400*0.25},
		{"half-life 2 days", Weighting{Days: 3, HalfLife: 2, Today: day(2026, 1, 5), HasToday: true}, 100 + 200*math.Sqrt(0.5) + 400*0.5},
		{"no decay", Weighting{Days: 3, HalfLife: -1, Today: day(2026, 1, 5), HasToday: true}, 700},
		{"window of 5 days", Weighting{Days: 5, HalfLife: -1, Today: day(2026, 1, 5), HasToday: true}, 1700},
		{"today is the newest day", Weighting{Days: 3, HalfLife: -1}, 200 + 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, _ := Weights(a, tt.w)
			if len(ws) == 0 || ws[0].Path != "/v/a/1" || math.Abs(ws[0].Weight-tt.want) > 1e-9 {
				t.Fatalf("weights %v, want /v/a/1 at %v", ws, tt.want)
			}
			if tt.w.HasToday && len(ws) != 1 {
				t.Errorf("a day after Today counted: %v", ws)
			}
		})
	}
}

func TestTitleOf(t *testing.T) {
	tests := []struct{ pattern, path, want string }{
		{DefaultTitlePattern, "/v/film/0001.m4s", "film"},
		{DefaultTitlePattern, "/s/8M/x.mp4", "/s/8M/x.mp4"},
		{`^/[^/]+/[^/]+/`, "/hls/show/1.ts", "/hls/show/"},
		{`^/(?:v|w)/([^/]+)/`, "/w/film/1.ts", "film"},
	}
	for _, tt := range tests {
		to, err := NewTitleOf(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := to.ID(tt.path); got != tt.want {
			t.Errorf("%s on %s: %q, want %q", tt.pattern, tt.path, got, tt.want)
		}
	}
	if _, err := NewTitleOf("("); err == nil {
		t.Error("a bad pattern compiles")
	}
}

func TestRankSizeNormalisation(t *testing.T) {
	// A long film streamed 3 GB of its 10 GB (0.3 views) ranks below a
	// short one streamed 1 GB of its 1 GB (1 view).
	files := []FileWeight{{"/v/long/1", 1.5e9}, {"/v/long/2", 1.5e9}, {"/v/long/3", 0}, {"/v/short/1", 1e9}}
	size := map[string]int64{"/v/long/1": 4e9, "/v/long/2": 4e9, "/v/long/3": 2e9, "/v/short/1": 1e9}
	to, _ := NewTitleOf(DefaultTitlePattern)
	got := Rank(files, func(p string) (int64, bool) { n, ok := size[p]; return n, ok }, to)
	if len(got) != 2 || got[0].ID != "short" || got[1].ID != "long" {
		t.Fatalf("rank %+v", got)
	}
	if got[1].Size != 10e9 || math.Abs(got[1].Score-0.3) > 1e-12 || math.Abs(got[0].Score-1) > 1e-12 {
		t.Errorf("scores: %+v", got)
	}
}

func TestFit(t *testing.T) {
	// Titles in rank order; each title's files by their own score.
	ts := []RankedTitle{
		{ID: "a", Files: []RankedFile{{Path: "/a/1", Size: 40, Score: 9}, {Path: "/a/2", Size: 40, Score: 1}}},
		{ID: "b", Files: []RankedFile{{Path: "/b/1", Size: 30, Score: 5}, {Path: "/b/2", Size: 10, Score: 5}}},
		{ID: "c", Files: []RankedFile{{Path: "/c/1", Size: 5, Score: 0.5}}},
	}
	tests := []struct {
		budget int64
		want   string
	}{
		{0, ""},
		{40, "a:/a/1"},
		{75, "a:/a/1 b:/b/1 c:/c/1"},
		{85, "a:/a/1 b:/b/1,/b/2 c:/c/1"}, // /a/2 does not fit; /c/1 does
		{120, "a:/a/1,/a/2 b:/b/1,/b/2"},  // the rarely watched /a/2 before /c/1
		{200, "a:/a/1,/a/2 b:/b/1,/b/2 c:/c/1"},
	}
	for _, tt := range tests {
		var parts []string
		var total int64
		for _, t := range Fit(ts, tt.budget) {
			var ps []string
			for _, f := range t.Files {
				ps = append(ps, f.Path)
				total += f.Size
			}
			parts = append(parts, t.ID+":"+strings.Join(ps, ","))
		}
		if got := strings.Join(parts, " "); got != tt.want || total > tt.budget {
			t.Errorf("budget %d: %q (%d bytes), want %q", tt.budget, got, total, tt.want)
		}
	}
	if len(ts[0].Files) != 2 {
		t.Error("Fit modified its input")
	}
}

// synthObjects is the synthetic origin's sizes and bytes without HTTP.
type synthObjects struct{ o *origin.Synthetic }

func (s synthObjects) Size(_ context.Context, p string) (int64, error) {
	n, ok := s.o.SizeOf(p)
	if !ok {
		return 0, fmt.Errorf("no object %s", p)
	}
	return n, nil
}

func (s synthObjects) Hash(ctx context.Context, p string) (int64, string, error) {
	n, err := s.Size(ctx, p)
	if err != nil {
		return 0, "", err
	}
	b := make([]byte, n)
	origin.FillContent(p, 0, b)
	sum := sha256.Sum256(b)
	return n, hex.EncodeToString(sum[:]), nil
}

func TestBuildDeterministic(t *testing.T) {
	var lines []string
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		title := 1 + int(math.Floor(math.Pow(r.Float64(), 3)*40)) // skewed
		lines = append(lines, logLine(fmt.Sprintf("2026-01-%02d", 1+i%4), fmt.Sprintf("/v/t%d/%d.m4s", title, r.IntN(8)), 206, 1000+r.Int64N(4096)))
	}
	lines = append(lines, logLine("2026-01-04", "/v/t1/x.m4s?token=1", 206, 1e9)) // not a manifest path
	lines = append(lines, logLine("2026-01-04", "/nothing/here", 206, 1e9))       // the origin has no such object
	o := origin.NewSynthetic(origin.SyntheticOptions{DefaultSize: 64 << 10})
	build := func(lines []string) *Result {
		res, err := Build(context.Background(), aggOf(t, lines...), BuildOptions{Budget: 5 << 20, Objects: synthObjects{o}, Concurrency: 3})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	res := build(lines)
	shuffled := append([]string(nil), lines...)
	r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	if again := build(shuffled); !bytes.Equal(res.Manifest, again.Manifest) {
		t.Fatal("the same lines in another order give another manifest")
	}
	if res.Bytes > 5<<20 || res.Bytes < 4<<20 || res.Unfillable != 1 || res.SizeErrors != 1 {
		t.Errorf("result %+v", res)
	}
	m, err := fill.Parse(res.Manifest, fill.ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Titles[0].ID != "t1" || m.Titles[0].Rank != 1 || len(m.Titles[0].Files) != 8 {
		t.Errorf("first title %+v", m.Titles[0])
	}
	_, want, _ := synthObjects{o}.Hash(context.Background(), m.Titles[0].Files[0].Path)
	if m.Titles[0].Files[0].SHA256 != want {
		t.Error("wrong sha256")
	}
	if want := "2026-01-05T00:00:00Z"; m.GeneratedAt.Format("2006-01-02T15:04:05Z07:00") != want {
		t.Errorf("generated_at %v, want %s", m.GeneratedAt, want)
	}
}

func TestHTTPObjects(t *testing.T) {
	o := origin.NewSynthetic(origin.SyntheticOptions{DefaultSize: 100 << 10})
	srv := httptest.NewServer(o)
	defer srv.Close()
	h := &HTTPObjects{Base: srv.URL, Header: map[string][]string{"X-Origin-No-Count": {"1"}}}
	ctx := context.Background()
	n, err := h.Size(ctx, "/v/a/1.m4s")
	if err != nil || n != 100<<10 {
		t.Fatalf("Size: %d %v", n, err)
	}
	n, sum, err := h.Hash(ctx, "/v/a/1.m4s")
	_, want, _ := synthObjects{o}.Hash(ctx, "/v/a/1.m4s")
	if err != nil || n != 100<<10 || sum != want {
		t.Fatalf("Hash: %d %s %v", n, sum, err)
	}
	if _, err := h.Size(ctx, "/nothing"); err == nil {
		t.Error("a 404 has a size")
	}
	if st := o.Stats(); st.Requests != 0 {
		t.Errorf("the origin counted %d requests", st.Requests)
	}
}
