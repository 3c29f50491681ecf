package origin

import (
	"context"
	"net/http"
	"testing"
)

// named is a Fetcher that answers with its name as the ETag.
type named string

func (n named) Fetch(context.Context, string, int64, int64, http.Header) (*Response, error) {
	return &Response{ETag: string(n)}, nil
}

func TestSwitch(t *testing.T) {
	s := NewSwitch(named("a"))
	if r, _ := s.Fetch(context.Background(), "/x", 0, 1, nil); r.ETag != "a" {
		t.Fatalf("first fetch from %q", r.ETag)
	}
	if old := s.Set(named("b")); old != named("a") {
		t.Errorf("Set returned %v, want the replaced a", old)
	}
	if r, _ := s.Fetch(context.Background(), "/x", 0, 1, nil); r.ETag != "b" || s.Current() != named("b") {
		t.Fatalf("after Set: fetch from %q", r.ETag)
	}
}
