package cache

import (
	"fmt"
	"testing"

	"edgecache/cache/policy"
)

// Every policy keeps the memory tier within its budget, returns exactly the
// chunk stored under an ID, and replaces a chunk's older version.
func TestMemoryPolicies(t *testing.T) {
	const cs = 4 << 10
	for _, name := range policy.Names() {
		t.Run(name, func(t *testing.T) {
			m, err := NewMemory(64*cs, cs, name)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2000; i++ {
				id := chunkID{fmt.Sprintf("/k%d", i%300), int64(i % 7)}
				if c, ok := m.get(id); ok && (c.version != "v" || string(c.data[:len(id.key)]) != id.key) {
					t.Fatalf("%v: got another chunk's bytes", id)
				} else if !ok {
					data := make([]byte, cs/2+i%(cs/2))
					copy(data, id.key)
					m.add(id, &chunk{version: "v", data: data})
				}
				if b := m.Bytes(); b > 64*cs || b < 0 {
					t.Fatalf("memory tier holds %d bytes, budget %d", b, 64*cs)
				}
			}
			id := chunkID{"/versioned", 0}
			m.add(id, &chunk{version: "v1", data: make([]byte, 100)})
			m.add(id, &chunk{version: "v2", data: make([]byte, 200)})
			if m.contains(id, "v1") || !m.contains(id, "v2") {
				t.Fatal("the older version is still held, or the newer one is not")
			}
		})
	}
	if _, err := NewMemory(1<<20, cs, "fifo"); err == nil {
		t.Fatal("an unknown policy was accepted")
	}
}
