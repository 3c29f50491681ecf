package cache

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"edgecache/origin"
)

// The status answers the object index remembers are bounded in bytes
// (StatusBytes), whatever their count: an origin's large error pages for
// many distinct paths took the heap to gigabytes. Replacing, removing and
// evicting an entry gives its bytes back.
func TestObjectsBoundStatusBytes(t *testing.T) {
	o := newObjects(1 << 20)
	neg := func(n int) objEntry {
		return objEntry{negErr: &origin.StatusError{Code: 404, Header: http.Header{"Content-Type": {"text/html"}}, Body: make([]byte, n)},
			negUntil: time.Now().Add(time.Hour)}
	}
	total := func() (n int64) {
		for i := range o.shards {
			n += o.shards[i].negBytes
		}
		return n
	}
	stored := 0
	for i := range 200 {
		if o.put(fmt.Sprintf("/big/%d", i), neg(300<<10)) {
			stored++
		}
	}
	if total() > StatusBytes || stored == 0 || stored == 200 {
		t.Fatalf("%d of 200 300 KiB answers stored, %d bytes counted (bound %d)", stored, total(), StatusBytes)
	}
	// Small answers still fit; versions are not charged.
	if !o.put("/small", neg(100)) || !o.put("/v", objEntry{meta: &Meta{}}) {
		t.Fatal("a small status answer or a version refused")
	}
	// Replaced by a version, removed, or all gone: back to nothing.
	o.put("/small", objEntry{meta: &Meta{}})
	for i := range 200 {
		o.remove(fmt.Sprintf("/big/%d", i))
	}
	if n := total(); n != 0 {
		t.Fatalf("%d bytes counted after every status answer went", n)
	}
	// Evicted by the count bound: given back too.
	small := newObjects(32) // one entry per shard
	for i := range 1000 {
		small.put(fmt.Sprintf("/e/%d", i), neg(1000))
	}
	var n, entries int64
	for i := range small.shards {
		n += small.shards[i].negBytes
		entries += int64(small.shards[i].lru.Len())
	}
	if n != entries*(1000+int64(len("Content-Type")+len("text/html"))) {
		t.Fatalf("%d bytes counted for %d entries", n, entries)
	}
}

// The index counts the variants it holds per object path, as entries come,
// are replaced, removed and evicted.
func TestObjectsCountVariants(t *testing.T) {
	o := newObjects(32) // one entry per shard: puts evict
	variant := func(i int) objEntry { return objEntry{meta: &Meta{Key: fmt.Sprintf("/p\x00v%d", i), path: "/p"}} }
	for i := range 200 {
		o.put(variant(i).meta.Key, variant(i))
	}
	resident := 0
	for i := range o.shards {
		for _, k := range o.shards[i].lru.Keys() {
			if e, _ := o.shards[i].lru.Peek(k); variantPath(e) == "/p" {
				resident++
			}
		}
	}
	if n := o.variantCount("/p"); n != resident || n == 0 {
		t.Fatalf("%d variants counted, %d held", n, resident)
	}
	o.put(variant(199).meta.Key, variant(199)) // replaced: still one
	for i := range 200 {
		o.remove(variant(i).meta.Key)
	}
	if n := o.variantCount("/p"); n != 0 || len(o.variants) != 0 {
		t.Fatalf("%d variants counted after all were removed", n)
	}
}
