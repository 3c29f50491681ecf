package disk

import (
	"fmt"
	"math"
	"testing"
)

func TestRendezvous(t *testing.T) {
	mk := func(paths ...string) []*disk {
		var ds []*disk
		for i, p := range paths {
			ds = append(ds, &disk{i: i, path: p, seed: mix64(keyHash(p)), weight: 1 << 40})
		}
		return ds
	}
	all := mk("/srv/cache1", "/srv/cache2", "/srv/cache3", "/srv/cache4")
	const n = 100_000
	count := map[string]int{}
	before := make([]*disk, n)
	for i := 0; i < n; i++ {
		h := handle(keyHash(fmt.Sprintf("/v/%d", i/8)), int64(i%8))
		before[i] = place(h, all)
		count[before[i].path]++
	}
	for p, c := range count {
		if math.Abs(float64(c)-n/4) > n/4*0.05 {
			t.Errorf("%s holds %d of %d chunks, want about %d", p, c, n, n/4)
		}
	}
	for gone := range all {
		var rest []*disk
		for i, d := range all {
			if i != gone {
				rest = append(rest, d)
			}
		}
		moved := 0
		for i := 0; i < n; i++ {
			h := handle(keyHash(fmt.Sprintf("/v/%d", i/8)), int64(i%8))
			after := place(h, rest)
			if before[i] != all[gone] && after != before[i] {
				t.Fatalf("chunk %d moved from %s to %s though %s left", i, before[i].path, after.path, all[gone].path)
			}
			if before[i] == all[gone] {
				moved++
			}
		}
		if moved != count[all[gone].path] {
			t.Errorf("moved %d, want %d", moved, count[all[gone].path])
		}
	}
	// Weights: a disk twice as large gets about twice the share.
	w := mk("/a", "/b")
	w[0].weight = 2
	w[1].weight = 1
	big := 0
	for i := 0; i < n; i++ {
		if place(handle(uint64(i), 0), w) == w[0] {
			big++
		}
	}
	if math.Abs(float64(big)/n-2.0/3) > 0.01 {
		t.Errorf("weight-2 disk holds %.3f of the chunks, want 0.667", float64(big)/n)
	}
	if place(1, nil) != nil {
		t.Error("place on no disks returned one")
	}
}

func TestChunkName(t *testing.T) {
	for _, tc := range []struct {
		kh    uint64
		index int64
		want  string
	}{
		{0, 0, "00/0000000000000000-0"},
		{0xabcdef0123456789, 12345, "ab/abcdef0123456789-12345"},
		{math.MaxUint64, math.MaxInt64, "ff/ffffffffffffffff-9223372036854775807"},
	} {
		got := chunkName(tc.kh, tc.index)
		if got != tc.want {
			t.Errorf("chunkName(%x, %d) = %q, want %q", tc.kh, tc.index, got, tc.want)
		}
		kh, idx, ok := parseChunkName(got[3:])
		if !ok || kh != tc.kh || idx != tc.index {
			t.Errorf("parseChunkName(%q) = %x, %d, %v", got[3:], kh, idx, ok)
		}
	}
	for _, bad := range []string{"", "x", "0000000000000000", "0000000000000000-", "0000000000000000-01", "0000000000000000--1", "000000000000000g-1", "ABCDEF0123456789-1", "+000000000000000-1"} {
		if _, _, ok := parseChunkName(bad); ok {
			t.Errorf("parseChunkName(%q) accepted", bad)
		}
	}
}

// FuzzParseChunkName checks the parser of the chunk file names a scan finds
// in a cache dir (anything may be there): it never panics, and a name it
// accepts is the one chunkName gives its hash and index, so a file is
// indexed only under the name a read opens.
func FuzzParseChunkName(f *testing.F) {
	for _, s := range []string{"abcdef0123456789-12345", "0000000000000000-0", "ABCDEF0123456789-1", "ffffffffffffffff-9223372036854775807", "0000000000000000-01", "0000000000000000-+1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		kh, index, ok := parseChunkName(name)
		if !ok {
			return
		}
		if back := chunkName(kh, index)[3:]; back != name || index < 0 {
			t.Fatalf("%q accepted as %x, %d, whose name is %q", name, kh, index, back)
		}
	})
}
