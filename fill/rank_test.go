package fill_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"edgecache/cache"
	"edgecache/cache/disk"
	"edgecache/fill"
	"edgecache/origin"
)

// overstated is a fill.Cache whose Capacity is four times the real one: the
// job's plan then lets it try files that do not fit (as when chunks land
// unevenly on several disks), so the disk tier's ranks have to stop it.
type overstated struct{ fill.Cache }

func (o overstated) Capacity() int64 { return 4 * o.Cache.Capacity() }

// rankedManifest returns a manifest of titles (rank → file count), each
// file one chunk of the synthetic origin named after prefix.
func rankedManifest(t *testing.T, prefix string, titles map[int]int) (*fill.Manifest, map[int][]fill.File) {
	t.Helper()
	type title struct {
		ID    string      `json:"id"`
		Rank  int         `json:"rank"`
		Files []fill.File `json:"files"`
	}
	var ts []title
	files := make(map[int][]fill.File)
	for rank, n := range titles {
		tt := title{ID: fmt.Sprintf("%s%d", prefix, rank), Rank: rank}
		for i := range n {
			path := fmt.Sprintf("/s/%d/%s-r%d-%02d.m4s", chunk, prefix, rank, i)
			tt.Files = append(tt.Files, fill.File{Path: path, Size: chunk, SHA256: sumOf(path, chunk)})
		}
		files[rank] = tt.Files
		ts = append(ts, tt)
	}
	b, _ := json.Marshal(map[string]any{"version": 1, "titles": ts})
	return parse(t, b), files
}

// A fill never evicts content ranked higher than what it adds: on a disk
// full of rank-1 content a rank-5 file is refused and the job stops adding,
// reporting the rest as left over budget. A new job's ranks supersede: the
// held files it lists keep their place, the others lose theirs to its
// files.
func TestFillStopsWhenFullOfHigherRanks(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	srv := httptest.NewServer(syn)
	t.Cleanup(srv.Close)
	client, err := origin.NewClient(srv.URL, origin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	root := t.TempDir()
	d := filepath.Join(root, "d1")
	os.MkdirAll(d, 0o755)
	const fileBlocks = chunk + 4096 // a one-chunk file on disk: payload and header in 4 KiB blocks
	ds, err := disk.Open(disk.Options{Dirs: []disk.Dir{{Path: d, Size: 8 * fileBlocks}},
		StateFile: filepath.Join(root, "disks.state"), ScrubRate: -1, CheckInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close() })
	<-ds.Ready()
	store, err := cache.New(client, cache.Options{ChunkSize: chunk, Memory: 64 * chunk, Disk: ds})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	filler := store.NewFiller(cache.FillerOptions{Slots: 1})
	run := func(m *fill.Manifest) fill.Status {
		t.Helper()
		fr, err := fill.NewRunner(fill.Options{Cache: overstated{filler}, Dir: filepath.Join(root, "job"),
			Concurrency: 1, CapacityFraction: 1})
		if err != nil {
			t.Fatal(err)
		}
		st, err := fr.Run(context.Background(), m, "test", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	holds := func(f fill.File) bool {
		return filler.Has(context.Background(), fill.Request{Path: f.Path, Size: f.Size})
	}
	rankOf := func(f fill.File) disk.Rank {
		rk, _ := ds.RankOf(disk.ID{Key: f.Path, Index: 0})
		return rk
	}

	// Job A: 8 rank-1 files fill the disk; the rank-5 title is refused.
	mA, fa := rankedManifest(t, "a", map[int]int{1: 8, 5: 3})
	st := run(mA)
	if st.State != fill.StateCompleted || !st.Left.Full || st.FilesFilled != 8 || st.FilesFailed != 0 ||
		st.Left.Files != 3 || st.Left.OverBudgetFiles != 3 || st.Left.OverBudgetBytes != 3*chunk {
		t.Fatalf("job A: %+v", st)
	}
	genA := rankOf(fa[1][0]).Gen
	for _, f := range fa[1] {
		if !holds(f) || rankOf(f) != (disk.Rank{Gen: genA, Rank: 1}) {
			t.Fatalf("job A: %s not held with rank 1 (%+v)", f.Path, rankOf(f))
		}
	}
	for _, f := range fa[5] {
		if holds(f) {
			t.Fatalf("job A: rank-5 %s held", f.Path)
		}
	}
	if dst := ds.Stats().Disks[0]; dst.RankedChunks != 8 || dst.RankedEvictions != 0 || dst.Bytes > dst.Budget {
		t.Fatalf("disk after job A: %+v", dst)
	}

	// Job B lists the same rank-1 title and a rank-3 one: the held files
	// take job B's rank, so the rank-3 files are refused too.
	time.Sleep(time.Millisecond) // a later start: a newer generation
	_, fb := rankedManifest(t, "b", map[int]int{3: 2})
	type title struct {
		ID    string      `json:"id"`
		Rank  int         `json:"rank"`
		Files []fill.File `json:"files"`
	}
	raw, _ := json.Marshal(map[string]any{"version": 1, "titles": []title{
		{ID: "a1", Rank: 1, Files: fa[1]}, {ID: "b3", Rank: 3, Files: fb[3]}}})
	st = run(parse(t, raw))
	if st.State != fill.StateCompleted || !st.Left.Full || st.FilesResident != 8 || st.FilesFilled != 0 ||
		st.Left.OverBudgetFiles != 2 {
		t.Fatalf("job B: %+v", st)
	}
	genB := rankOf(fa[1][0]).Gen
	if genB <= genA {
		t.Fatalf("job B's generation %d not after job A's %d", genB, genA)
	}
	for _, f := range fa[1] {
		if !holds(f) || rankOf(f) != (disk.Rank{Gen: genB, Rank: 1}) {
			t.Fatalf("job B: %s not held with job B's rank 1 (%+v)", f.Path, rankOf(f))
		}
	}

	// Job C does not list them: its rank-9 files evict them (an older
	// generation), and only as many as they need.
	time.Sleep(time.Millisecond)
	mC, fc := rankedManifest(t, "c", map[int]int{9: 3})
	st = run(mC)
	if st.State != fill.StateCompleted || st.Left.Full || st.FilesFilled != 3 {
		t.Fatalf("job C: %+v", st)
	}
	for _, f := range fc[9] {
		if !holds(f) || rankOf(f).Rank != 9 || rankOf(f).Gen <= genB {
			t.Fatalf("job C: %s not held with its rank (%+v)", f.Path, rankOf(f))
		}
	}
	left := 0
	for _, f := range fa[1] {
		if holds(f) {
			left++
		}
	}
	if left != 5 {
		t.Fatalf("%d of job A's files left, want 5", left)
	}
}
