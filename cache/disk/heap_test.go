package disk

import (
	"fmt"
	"runtime"
	"testing"
)

// TestHeapPerChunk measures the disk index's heap per chunk held, after a
// garbage collection, for one-chunk objects with keys of about 40 bytes
// (each chunk then also carries its object's entry): about 490 bytes when
// measured. The memory plan allows IndexEntryBytes per chunk a disk can
// index (Options.MinCharge).
func TestHeapPerChunk(t *testing.T) {
	dirs, state := mkdirs(t, 1, 1<<30)
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1, OpenFiles: -1})
	payload := make([]byte, 100)
	meta := []byte("content-type: video/mp4\r\netag: \"v1\"\r\n")
	put := func(i int) {
		key := fmt.Sprintf("/v/title-%04d/1080p/segment-%06d.m4s", i%100, i)
		if err := s.Put(ID{Key: key, Index: 0}, `"v1-abcdef"`, meta, payload); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		put(1_000_000 + i) // the maps' first growth
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	const n = 5000
	for i := range n {
		put(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if got := s.Stats().Disks[0].Chunks; got != n+200 {
		t.Fatalf("%d chunks held, want %d", got, n+200)
	}
	per := (int64(m1.HeapInuse) - int64(m0.HeapInuse)) / n
	t.Logf("heap per chunk held: %d bytes", per)
	if per > IndexEntryBytes {
		t.Errorf("a chunk held costs %d bytes of heap, more than the memory plan's %d per disk index entry", per, IndexEntryBytes)
	}
	runtime.KeepAlive(s)
}

// With MinCharge, a disk of tiny files holds at most Size/MinCharge chunks
// (the most recent ones), and what it reports held counts each at the
// charge; without it, one per 4 KiB block.
func TestMinChargeBoundsIndex(t *testing.T) {
	for _, tc := range []struct {
		min  int64
		want int
	}{{64 << 10, 16}, {0, 256}, {5000, 128}} {
		dirs, state := mkdirs(t, 1, 1<<20)
		s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1, MinCharge: tc.min})
		for i := range 400 {
			if err := s.Put(ID{Key: fmt.Sprintf("/tiny/%d", i), Index: 0}, "v", nil, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		st := s.Stats().Disks[0]
		if st.Chunks != tc.want {
			t.Errorf("MinCharge %d: %d chunks held, want %d", tc.min, st.Chunks, tc.want)
		}
		if st.Bytes > 1<<20 {
			t.Errorf("MinCharge %d: %d bytes counted, over the budget", tc.min, st.Bytes)
		}
		for i := 400 - tc.want; i < 400; i++ {
			c, err := s.Get(ID{Key: fmt.Sprintf("/tiny/%d", i), Index: 0}, "v")
			if err != nil {
				t.Fatalf("MinCharge %d: /tiny/%d, among the last put: %v", tc.min, i, err)
			}
			c.Close()
		}
	}
}
