package disk

import "testing"

// Touch counts as a use for the eviction policy: of two chunks, the one
// touched survives the eviction a third one causes.
func TestTouch(t *testing.T) {
	dirs, state := mkdirs(t, 1, 3*(16<<10)) // room for two 16 KiB chunks with their headers, not three
	s, _ := open(t, Options{Dirs: dirs, StateFile: state, ScrubRate: -1})
	put := func(key string) ID {
		id := ID{Key: key, Index: 0}
		if err := s.Put(id, "v1", nil, payload(id, "v1", 16<<10)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	a, b := put("/a"), put("/b")
	tests := []struct {
		name    string
		id      ID
		version string
		want    bool
	}{
		{"held", a, "v1", true},
		{"other version", a, "v2", false},
		{"not held", ID{Key: "/c", Index: 0}, "v1", false},
	}
	for _, tt := range tests {
		if got := s.Touch(tt.id, tt.version); got != tt.want {
			t.Errorf("%s: Touch = %v, want %v", tt.name, got, tt.want)
		}
	}
	put("/c") // evicts the least recently used: /b, not the touched /a
	if !s.Has(a, "v1") || s.Has(b, "v1") {
		t.Errorf("after the eviction: /a held %v, /b held %v; want /a only", s.Has(a, "v1"), s.Has(b, "v1"))
	}
}
