package cache

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs every test of the package with released arena memory
// poisoned, so a read of a chunk after its last reference is gone returns
// bytes that the tests comparing content with the origin's notice.
// Benchmarks run without it: it costs a memset per release.
func TestMain(m *testing.M) {
	flag.Parse()
	arenaPoison = flag.Lookup("test.bench").Value.String() == ""
	os.Exit(m.Run())
}
