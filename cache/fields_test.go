package cache

import (
	"context"
	"reflect"
	"testing"

	"edgecache/origin"
)

// Issue #9 §1: a version's end-to-end header fields are kept with it, once
// per version, and survive a restart through the disk tier.
func TestHeaderFieldsKeptAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	sizes := map[string]int64{"/h": 2 * testChunk}
	src := newFake(sizes)
	src.header = func(key string, r *origin.Response) {
		r.Header = map[string][]string{"X-Custom": {"one", "two"}, "Content-Disposition": {"inline"}, "Cache-Control": {"max-age=3600"}}
	}
	want := []Field{{"Cache-Control", "max-age=3600"}, {"Content-Disposition", "inline"}, {"X-Custom", "one"}, {"X-Custom", "two"}}
	ds := openDisk(t, dir, 64*testChunk)
	s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	readRange(t, s, "/h", 0, -1)
	meta, _, err := s.Lookup(context.Background(), NewKey("/h"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := meta.Fields(); !reflect.DeepEqual(got, want) {
		t.Fatalf("fields %q, want %q", got, want)
	}
	s.Close()
	ds.Close()

	ds = openDisk(t, dir, 64*testChunk)
	defer ds.Close()
	s = mustNew(t, newFake(sizes), Options{ChunkSize: testChunk, Memory: 16 * testChunk, Disk: ds})
	defer s.Close()
	meta, _, err = s.Lookup(context.Background(), NewKey("/h"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := meta.Fields(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a restart: fields %q, want %q", got, want)
	}
}
