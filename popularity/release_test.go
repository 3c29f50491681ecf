package popularity

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"

	"edgecache/fill"
	"edgecache/origin"
)

func TestParseReleases(t *testing.T) {
	in := `# tomorrow
/v/new-film/0.m4s 120

new-show	80 /v/new-show/0.m4s /v/new-show/1.m4s
old-film 2.5
old-film 0.5 /v/old-film/9.m4s
`
	rels, err := ParseReleases(strings.NewReader(in), "test")
	if err != nil {
		t.Fatal(err)
	}
	want := []Release{
		{Key: "/v/new-film/0.m4s", Views: 120, Paths: []string{}},
		{Key: "new-show", Views: 80, Paths: []string{"/v/new-show/0.m4s", "/v/new-show/1.m4s"}},
		{Key: "old-film", Views: 3, Paths: []string{"/v/old-film/9.m4s"}},
	}
	if len(rels) != len(want) {
		t.Fatalf("releases %+v", rels)
	}
	for i := range want {
		g, w := rels[i], want[i]
		if g.Key != w.Key || g.Views != w.Views || strings.Join(g.Paths, ",") != strings.Join(w.Paths, ",") {
			t.Errorf("release %d: %+v, want %+v", i, g, w)
		}
	}
	for _, bad := range []string{
		"t1",                      // no views
		"t1 0",                    // views not > 0
		"t1 -3",                   // negative
		"t1 NaN",                  // not a number
		"t1 +Inf",                 // infinite
		"t1 many",                 // not a number
		"/v/a/0.m4s 3 /v/a/1.m4s", // paths after a path
		"/v/a/0.m4s?x=1 3",        // not a manifest path
		"t1 3 /v/../etc/passwd",   // not a manifest path
	} {
		if _, err := ParseReleases(strings.NewReader("# ok\n"+bad+"\n"), "f"); err == nil || !strings.Contains(err.Error(), "f:2") {
			t.Errorf("%q: err %v, want one naming f:2", bad, err)
		}
	}
}

func TestBuildWithReleases(t *testing.T) {
	const size = 64 << 10
	o := origin.NewSynthetic(origin.SyntheticOptions{DefaultSize: size})
	var lines []string
	views := func(path string, n int) {
		for range n {
			lines = append(lines, logLine("2026-01-04", path, 206, size))
		}
	}
	views("/v/t1/0.m4s", 10) // 10 views per byte
	views("/v/t2/0.m4s", 3)
	views("/v/t3/0.m4s", 1)
	newShow := Release{Key: "new", Views: 5, Paths: []string{"/v/new/0.m4s", "/v/new/1.m4s"}}
	tests := []struct {
		name     string
		rels     []Release
		files    int      // budget in files
		want     []string // titles, in manifest order, with their file count
		relFiles int
		errs     int
	}{
		{"logs only", nil, 3, []string{"t1:1", "t2:1", "t3:1"}, 0, 0},
		{"a new title with its paths", []Release{newShow}, 3, []string{"t1:1", "new:2"}, 2, 0},
		{"a known title boosted by id", []Release{newShow, {Key: "t2", Views: 4}}, 3, []string{"t1:1", "t2:1", "new:1"}, 2, 0},
		{"a single file by path", []Release{{Key: "/v/t9/0.m4s", Views: 20}}, 2, []string{"t9:1", "t1:1"}, 1, 0},
		{"an unknown title without paths is counted, not fatal", []Release{{Key: "ghost", Views: 50}}, 3, []string{"t1:1", "t2:1", "t3:1"}, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			build := func(rels []Release) *Result {
				res, err := Build(context.Background(), aggOf(t, lines...), BuildOptions{
					Budget: int64(tc.files) * size, Objects: synthObjects{o}, Releases: rels})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			res := build(tc.rels)
			m, err := fill.Parse(res.Manifest, fill.ParseOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ti := range m.Titles {
				got = append(got, ti.ID+":"+string(rune('0'+len(ti.Files))))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("manifest %v, want %v", got, tc.want)
			}
			if res.ReleaseFiles != tc.relFiles || res.ReleaseErrors != tc.errs {
				t.Errorf("release files %d, errors %d; want %d, %d (%v)", res.ReleaseFiles, res.ReleaseErrors, tc.relFiles, tc.errs, res.Errors)
			}
			// Coverage counts the logs' bytes only: t1, t2, t3 have 14 views.
			var covered float64
			for _, ti := range m.Titles {
				covered += map[string]float64{"t1": 10, "t2": 3, "t3": 1}[ti.ID]
			}
			if math.Abs(res.Coverage-covered/14) > 1e-9 {
				t.Errorf("coverage %v, want %v", res.Coverage, covered/14)
			}
			// The order releases are given in does not matter.
			rev := append([]Release(nil), tc.rels...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			if again := build(rev); !bytes.Equal(again.Manifest, res.Manifest) {
				t.Error("releases in another order give another manifest")
			}
		})
	}
}
