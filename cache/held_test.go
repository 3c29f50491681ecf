package cache

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// Held hands out the range's bytes held in memory from the Reader's
// position, without consuming them, up to the first chunk memory does not
// hold (or the limit); Discard consumes them, and the Reader goes on from
// there.
func TestReaderHeld(t *testing.T) {
	size := int64(20*testChunk + 100)
	src := newFake(map[string]int64{"/h": size})
	s := newTestStore(t, src)
	readRange(t, s, "/h", 0, 3*testChunk) // chunks 0-2; read-ahead stays within the range
	meta, _, err := s.Lookup(context.Background(), NewKey("/h"), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		if held, _, _ := s.Residency(meta, 0, 3*testChunk); held == 3 {
			break
		}
		if i > 500 {
			t.Fatal("chunks 0-2 never landed in memory")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, tc := range []struct {
		name          string
		off, n, limit int64
		held          int64 // bytes Held returns
	}{
		{"inside a chunk", 10, 100, 1 << 30, 100},
		{"across chunks", testChunk - 10, 2 * testChunk, 1 << 30, 2 * testChunk},
		{"to the first chunk not held", 5, 10 * testChunk, 1 << 30, 3*testChunk - 5},
		{"from a chunk not held", 15*testChunk + 1, 100, 1 << 30, 0},
		{"up to the limit", 5, 3 * testChunk, 1000, 1000},
		{"up to the limit, across chunks", testChunk - 10, 2 * testChunk, testChunk, testChunk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.NewReader(meta, tc.off, tc.n)
			defer r.Close()
			r.Pin(PinChunks)
			var got []byte
			for _, b := range r.Held(nil, tc.limit) {
				got = append(got, b...)
			}
			if int64(len(got)) != tc.held || !bytes.Equal(got, content("/h", tc.off, tc.held)) {
				t.Fatalf("Held: %d bytes, want %d, equal %v", len(got), tc.held, bytes.Equal(got, content("/h", tc.off, int64(len(got)))))
			}
			if again := r.Held(nil, tc.limit); len(bytes.Join(again, nil)) != len(got) {
				t.Fatal("Held consumed bytes")
			}
			half := int64(len(got) / 2)
			r.Discard(half)
			var rest bytes.Buffer
			if _, err := r.WriteTo(&rest); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(append(got[:half:half], rest.Bytes()...), content("/h", tc.off, tc.n)) {
				t.Fatal("Discard then WriteTo: bytes differ from the origin's")
			}
		})
	}
}
