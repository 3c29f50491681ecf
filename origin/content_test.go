package origin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strconv"
	"testing"
)

// refBytes is a straightforward reimplementation of the reference origin's
// object.Read: byte i of the object is byte i%8 of the little-endian
// splitmix64(seed ^ (i/8 * 0xd1b54a32d192ed03)), seed = FNV-1a-64(path).
func refBytes(path string, off int64, n int) []byte {
	h := fnv.New64a()
	_, _ = io.WriteString(h, path)
	seed := h.Sum64()
	sm := func(x uint64) uint64 {
		x += 0x9e3779b97f4a7c15
		x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
		x = (x ^ (x >> 27)) * 0x94d049bb133111eb
		return x ^ (x >> 31)
	}
	out := make([]byte, n)
	var w [8]byte
	for i := range out {
		pos := off + int64(i)
		binary.LittleEndian.PutUint64(w[:], sm(seed^(uint64(pos/8)*0xd1b54a32d192ed03)))
		out[i] = w[pos%8]
	}
	return out
}

func TestFillContentMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	paths := []string{"/v/title/1.m4s", "/s/8M/a.m4s", "/s/4G/big", "", "/v/é/ü.m4s"}
	for _, p := range paths {
		for range 200 {
			off := rng.Int64N(1 << 33)
			if rng.IntN(4) == 0 {
				off = rng.Int64N(64)
			}
			n := rng.IntN(300)
			got := make([]byte, n)
			FillContent(p, off, got)
			if want := refBytes(p, off, n); !bytes.Equal(got, want) {
				t.Fatalf("FillContent(%q, %d, %d bytes) differs from reference", p, off, n)
			}
		}
	}
}

func TestFillContentKnownVector(t *testing.T) {
	// Pin the scheme so a change to both FillContent and refBytes is caught.
	p := make([]byte, 8)
	FillContent("/v/a/1.m4s", 0, p)
	want := refBytes("/v/a/1.m4s", 0, 8)
	if !bytes.Equal(p, want) {
		t.Fatalf("got %x want %x", p, want)
	}
	if got := fmt.Sprintf("%016x", seedOf("")); got != "cbf29ce484222325" {
		t.Fatalf("FNV-1a offset basis: %s", got)
	}
}

func TestFillContentSubslices(t *testing.T) {
	const path = "/s/1M/x"
	long := make([]byte, 4096)
	FillContent(path, 1000, long)
	for _, tc := range []struct{ off, n int }{
		{0, 4096}, {0, 1}, {1, 7}, {3, 8}, {7, 9}, {8, 8}, {13, 100}, {31, 33}, {64, 0}, {4095, 1}, {5, 4000},
	} {
		got := make([]byte, tc.n)
		FillContent(path, int64(1000+tc.off), got)
		if !bytes.Equal(got, long[tc.off:tc.off+tc.n]) {
			t.Errorf("FillContent(off=%d, n=%d) is not the slice of a longer fill", 1000+tc.off, tc.n)
		}
	}
}

func TestFillContentNegativeOffsetPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	FillContent("/x", -1, make([]byte, 1))
}

func TestContentReader(t *testing.T) {
	const path, size = "/s/10000/r", 10000
	want := refBytes(path, 0, size)
	r := NewContentReader(path, size)
	var got []byte
	buf := make([]byte, 333)
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatal("sequential read differs")
	}
	for _, off := range []int64{0, 1, 4999, 9990, 9999} {
		if pos, err := r.Seek(off, io.SeekStart); err != nil || pos != off {
			t.Fatalf("Seek(%d) = %d, %v", off, pos, err)
		}
		b, err := io.ReadAll(io.LimitReader(r, 17))
		if err != nil || !bytes.Equal(b, want[off:min(off+17, size)]) {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	if pos, _ := r.Seek(-10, io.SeekEnd); pos != size-10 {
		t.Fatalf("SeekEnd: %d", pos)
	}
	if pos, _ := r.Seek(5, io.SeekCurrent); pos != size-5 {
		t.Fatalf("SeekCurrent: %d", pos)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("negative seek accepted")
	}
	if _, err := r.Seek(0, 42); err == nil {
		t.Fatal("bad whence accepted")
	}
	if _, err := r.Seek(size+5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("read past end: %d, %v", n, err)
	}
}

func TestSyntheticETag(t *testing.T) {
	h := fnv.New64a()
	_, _ = io.WriteString(h, "/v/a/1.m4s")
	want := fmt.Sprintf("\"%016x-%x\"", h.Sum64(), 1<<20)
	if got := SyntheticETag("/v/a/1.m4s", 1<<20); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"123", 123, true},
		{"1K", 1 << 10, true},
		{"1k", 1 << 10, true},
		{"8M", 8 << 20, true},
		{"8m", 8 << 20, true},
		{"4G", 4 << 30, true},
		{"4g", 4 << 30, true},
		{"1024G", 1 << 40, true},
		{"1099511627776", 1 << 40, true},
		{"1025G", 0, false},
		{"1099511627777", 0, false},
		{"", 0, false},
		{"K", 0, false},
		{"-1", 0, false},
		{"1.5M", 0, false},
		{"1T", 0, false},
		{"1KB", 0, false},
		{"1MK", 0, false},
		{" 1", 0, false},
		{"0x10", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, err := ParseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "1", "1K", "8M", "4G", "4g", "1024G", "1025G", "", "-1", "+5", "1e3", "18446744073709551616", "k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseSize(%q) = %d with error", s, n)
			}
			return
		}
		if n < 0 || n > 1<<40 {
			t.Fatalf("ParseSize(%q) = %d out of range", s, n)
		}
		// The decimal form parses back to the same size.
		if m, err := ParseSize(strconv.FormatInt(n, 10)); err != nil || m != n {
			t.Fatalf("round trip of %d: %d, %v", n, m, err)
		}
		// A unit suffix multiplies the plain number.
		if c := s[len(s)-1]; c < '0' || c > '9' {
			base, err := ParseSize(s[:len(s)-1])
			if err != nil {
				t.Fatalf("ParseSize(%q) ok but prefix fails: %v", s, err)
			}
			if base != 0 && n%base != 0 {
				t.Fatalf("ParseSize(%q) = %d not a multiple of %d", s, n, base)
			}
		}
	})
}

func TestSizeFor(t *testing.T) {
	for _, tc := range []struct {
		path string
		want int64
		ok   bool
	}{
		{"/v/t/1.m4s", 777, true},
		{"/v/t/.m4s", 777, true},
		{"/v//1.m4s", 0, false},
		{"/v/t/1.mp4", 0, false},
		{"/v/t/x/1.m4s", 0, false},
		{"/v/t", 0, false},
		{"/s/8M/a.m4s", 8 << 20, true},
		{"/s/4G/big", 4 << 30, true},
		{"/s/10/a/b/c", 10, true},
		{"/s/10/", 0, false},
		{"/s/10", 0, false},
		{"/s/x/a", 0, false},
		{"/gone/x", 0, false},
		{"/", 0, false},
	} {
		got, ok := sizeFor(tc.path, 777)
		if ok != tc.ok || got != tc.want {
			t.Errorf("sizeFor(%q) = %d, %v; want %d, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func BenchmarkFillContent(b *testing.B) {
	for _, sz := range []int{4 << 10, 1 << 20} {
		b.Run(strconv.Itoa(sz), func(b *testing.B) {
			buf := make([]byte, sz)
			b.SetBytes(int64(sz))
			var off int64
			for b.Loop() {
				FillContent("/v/bench/1.m4s", off, buf)
				off += int64(sz)
			}
		})
	}
}

func BenchmarkContentReaderUnaligned(b *testing.B) {
	buf := make([]byte, 32<<10)
	b.SetBytes(int64(len(buf)))
	r := NewContentReader("/s/1G/x", 1<<30)
	_, _ = r.Seek(3, io.SeekStart)
	for b.Loop() {
		if _, err := r.Read(buf); err != nil {
			_, _ = r.Seek(3, io.SeekStart)
		}
	}
}
