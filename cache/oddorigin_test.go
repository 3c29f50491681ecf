package cache

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"

	"edgecache/origin"
)

// oddSource wraps a fakeSource to answer ranges its own way.
type oddSource struct {
	*fakeSource
	mode string
}

func (o *oddSource) Fetch(ctx context.Context, key string, off, n int64, h http.Header) (*origin.Response, error) {
	switch {
	case n < 0:
	case o.mode == "short": // never more than 10000 bytes
		n = min(n, 10000)
	case o.mode == "earlier" && off > 0: // from 777 bytes earlier
		d := min(off, 777)
		off, n = off-d, n+d
	case o.mode == "inconsistent": // ranges unusable; the whole object fine
		return nil, fmt.Errorf("origin %s: asked a range: bad Content-Range: %w", key, origin.ErrInconsistent)
	}
	return o.fakeSource.Fetch(ctx, key, off, n, h)
}

// Issue #9 §9: an origin that answers a range with fewer bytes, with a
// larger range that starts earlier, or unusably (then the whole object is
// asked for) is still a valid origin: every byte served is its byte.
func TestOriginsAnsweringRangesTheirWay(t *testing.T) {
	size := int64(5*testChunk + 777)
	for _, mode := range []string{"short", "earlier", "inconsistent"} {
		t.Run(mode, func(t *testing.T) {
			src := &oddSource{newFake(map[string]int64{"/o": size}), mode}
			s := mustNew(t, src, Options{ChunkSize: testChunk, Memory: 64 * testChunk})
			defer s.Close()
			for _, r := range []struct{ off, n int64 }{{2*testChunk + 5, 3000}, {0, -1}, {testChunk - 10, 20}} {
				n := r.n
				if n < 0 {
					n = size
				}
				if got := readRange(t, s, "/o", r.off, r.n); !bytes.Equal(got, content("/o", r.off, n)) {
					t.Fatalf("[%d,+%d): bytes differ from the origin's", r.off, n)
				}
			}
			if st := s.Stats(); st.FlightErrors != 0 {
				t.Fatalf("%d flight errors", st.FlightErrors)
			}
		})
	}
}
