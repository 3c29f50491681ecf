package server

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"

	"edgecache/origin"
)

// verifier compares a streamed body with the origin's bytes as it arrives,
// and samples the live heap (after a collection) every 256 MiB so the test
// can show nothing buffered the object.
type verifier struct {
	path    string
	off     int64
	want    []byte
	err     error
	maxHeap uint64
	sampled int64
}

func (v *verifier) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), len(v.want))
		want := v.want[:k]
		origin.FillContent(v.path, v.off, want)
		if !bytes.Equal(p[:k], want) {
			v.err = fmt.Errorf("byte mismatch in [%d, %d)", v.off, v.off+int64(k))
			return 0, v.err
		}
		v.off += int64(k)
		p = p[k:]
	}
	if v.off-v.sampled >= 256<<20 {
		// What is live, not garbage an earlier test left for the
		// collector (HeapInuse counts it: 2 GiB was seen once).
		v.sampled = v.off
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		v.maxHeap = max(v.maxHeap, ms.HeapAlloc)
	}
	return n, nil
}

// A 4 GiB object streams through a 32 MiB memory tier byte-exact, and the
// process heap stays far below the object's size: no layer buffers it whole.
func TestLargeObjectBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 4 GiB; skipped with -short")
	}
	const size = 4 << 30
	const path = "/s/4G/big.bin"
	h := newHarness(t, harnessOptions{mem: 32 << 20})
	check := func(rangeHdr string, off, n int64) {
		t.Helper()
		req := h.request("GET", path)
		if rangeHdr != "" {
			req.Header.Set("Range", rangeHdr)
		}
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.ContentLength != n {
			t.Fatalf("%q: Content-Length %d, want %d", rangeHdr, resp.ContentLength, n)
		}
		v := &verifier{path: path, off: off, want: make([]byte, 64<<10)}
		got, err := io.Copy(v, resp.Body)
		if err != nil {
			t.Fatalf("%q: after %d bytes: %v", rangeHdr, got, err)
		}
		if got != n {
			t.Fatalf("%q: got %d bytes, want %d", rangeHdr, got, n)
		}
		if v.maxHeap > 256<<20 {
			t.Fatalf("%q: heap reached %d MiB while streaming", rangeHdr, v.maxHeap>>20)
		}
		t.Logf("%q: %d bytes byte-exact, heap peak sample %d MiB", rangeHdr, got, v.maxHeap>>20)
	}
	// The tail across the 4 GiB boundary region, then the whole object.
	check("bytes=-3000000", size-3000000, 3000000)
	check("", 0, size)
}
