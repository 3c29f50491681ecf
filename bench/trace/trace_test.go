package trace

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// readAll reads every request of data, returning the requests before the
// first error and that error (nil at a clean end).
func readAll(t testing.TB, data []byte) ([]Request, error) {
	t.Helper()
	r, err := NewReader(bytes.NewReader(data), "t.tr")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var reqs []Request
	for {
		req, err := r.Next()
		if err == io.EOF {
			return reqs, nil
		}
		if err != nil {
			return reqs, err
		}
		reqs = append(reqs, req)
	}
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReaderFormats(t *testing.T) {
	abc := []Request{{1, "a", 10}, {2, "b", 20}, {3, "c", 1}}
	tests := []struct {
		name string
		in   string
		want []Request
	}{
		{"fields", "1 a 10\n2 b 20\n3 c 1\n", abc},
		{"fields no final newline", "1 a 10\n2 b 20\n3 c 1", abc},
		{"fields CRLF", "1 a 10\r\n2 b 20\r\n3 c 1\r\n", abc},
		{"fields tabs and runs of spaces", "1\ta\t10\n  2   b  20  \n3 \t c 1\n", abc},
		{"fields comments and blanks", "# time key size\n\n1 a 10\n   \n# x\n2 b 20\n\r\n3 c 1\n", abc},
		{"fields decimal time", "1.5 a 10\n2.999 b 20\n3.0 c 1\n", abc},
		{"fields negative time", "-7 a 1\n", []Request{{-7, "a", 1}}},
		{"fields key with punctuation", "5 http://x/y?a=1,b 3\n", []Request{{5, "http://x/y?a=1,b", 3}}},
		{"empty", "", nil},
		{"only comments", "# nothing\n\n", nil},
		{"csv", "time,key,size\n1,a,10\n2,b,20\n3,c,1\n", abc},
		{"csv CRLF", "time,key,size\r\n1,a,10\r\n2,b,20\r\n3,c,1\r\n", abc},
		{"csv reordered, upper case, extra columns", "Size,status,KEY,Time\n10,200,a,1\n20,404,b,2.5\n1,,c,3\n", abc},
		{"csv blank lines", "time,key,size\n\n1,a,10\n2,b,20\n\n3,c,1\n\n", abc},
		{"csv without time", "key,size\na,10\n", []Request{{0, "a", 10}}},
		{"csv without size", "time,key\n4,a\n", []Request{{4, "a", 1}}},
		{"csv quoted", "time,key,size\n1,\"a,b\",2\n2,\"say \"\"hi\"\"\",3\n\"3\",c,\"4\"\n",
			[]Request{{1, "a,b", 2}, {2, `say "hi"`, 3}, {3, "c", 4}}},
		{"csv quoted header", "\"time\",\"key\",\"size\"\n1,a,10\n", []Request{{1, "a", 10}}},
		{"csv spaces around numbers", "time, key, size\n 1 ,a, 10 \n", []Request{{1, "a", 10}}},
		{"csv after comment", "# made by hand\ntime,key,size\n1,a,10\n", []Request{{1, "a", 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				in := []byte(tt.in)
				if gz {
					in = gzipBytes(t, in)
				}
				got, err := readAll(t, in)
				if err != nil {
					t.Fatalf("gzip=%v: %v", gz, err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("gzip=%v:\ngot  %v\nwant %v", gz, got, tt.want)
				}
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		msg  string // substring of Msg
	}{
		{"two fields", "1 a 1\n2 b\n", 2, "want 3 fields"},
		{"one field", "1\n", 1, "got 1"},
		{"four fields", "1 a 1\n\n# c\n2 b 3 4\n", 4, "got more"},
		{"bad time", "x a 1\n", 1, "bad time"},
		{"bad decimal time", "1.x a 1\n", 1, "bad time"},
		{"time trailing dot", "1. a 1\n", 1, "bad time"},
		{"zero size", "1 a 0\n", 1, "at least 1"},
		{"negative size", "1 a -5\n", 1, "bad size"},
		{"decimal size", "1 a 1.5\n", 1, "bad size"},
		{"huge size", "1 a 99999999999999999999\n", 1, "bad size"},
		{"size CRLF in middle", "1 a 1\r\n2 b x\r\n", 2, "bad size"},
		{"csv short line", "time,key,size\n1,a,1\n2,b\n", 3, "at least 3"},
		{"csv empty key", "time,key,size\n1,,1\n", 2, "empty key"},
		{"csv bad size", "time,key,size\n1,a,1\n\n2,b,big\n", 4, "bad size"},
		{"csv bad time", "key,time\na,noon\n", 2, "bad time"},
		{"csv unterminated quote", "time,key,size\n1,\"a,1\n", 2, "unterminated"},
		{"csv text after quote", "time,key,size\n1,\"a\"b,1\n", 2, "after a quoted"},
		{"csv duplicate column", "key,size,KEY\na,1,a\n", 1, "twice"},
		{"csv header without real key", "a,\"x,key\"\n1,2\n", 1, "no key column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, gz := range []bool{false, true} {
				in := []byte(tt.in)
				if gz {
					in = gzipBytes(t, in)
				}
				_, err := readAll(t, in)
				var te *Error
				if !errors.As(err, &te) {
					t.Fatalf("gzip=%v: got error %v, want *Error", gz, err)
				}
				if te.File != "t.tr" || te.Line != tt.line || !strings.Contains(te.Msg, tt.msg) {
					t.Errorf("gzip=%v: got %q (line %d), want line %d containing %q", gz, err, te.Line, tt.line, tt.msg)
				}
				if want := fmt.Sprintf("t.tr:%d: ", tt.line); !strings.HasPrefix(err.Error(), want) {
					t.Errorf("error %q does not start with %q", err, want)
				}
			}
		})
	}
}

func TestReaderErrorIsSticky(t *testing.T) {
	r, err := NewReader(strings.NewReader("1 a 1\nbad\n3 c 1\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v, %v: want the same non-nil error twice", err1, err2)
	}
}

func TestReaderCorruptGzip(t *testing.T) {
	gz := gzipBytes(t, bytes.Repeat([]byte("1 a 1\n"), 10000))
	gz = gz[:len(gz)/2]
	_, err := readAll(t, gz)
	if err == nil || err == io.EOF || !strings.Contains(err.Error(), "t.tr") {
		t.Errorf("truncated gzip: got %v, want an error naming the file", err)
	}
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated gzip: got %v, want it to wrap io.ErrUnexpectedEOF", err)
	}
}

func TestReaderLongLine(t *testing.T) {
	key := strings.Repeat("k", 3*readBufSize)
	got, err := readAll(t, []byte("1 "+key+" 5\n2 b 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Key != key || got[1].Key != "b" {
		t.Errorf("long line: got %d requests", len(got))
	}
}

func TestNextBytes(t *testing.T) {
	r, err := NewReader(strings.NewReader("7 abc 9\n"), "t")
	if err != nil {
		t.Fatal(err)
	}
	tm, key, size, err := r.NextBytes()
	if err != nil || tm != 7 || string(key) != "abc" || size != 9 {
		t.Errorf("NextBytes = %d %q %d %v", tm, key, size, err)
	}
	if _, _, _, err := r.NextBytes(); err != io.EOF {
		t.Errorf("at end: %v, want io.EOF", err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.tr.gz")
	if err := os.WriteFile(path, gzipBytes(t, []byte("1 a 2\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	req, err := r.Next()
	if err != nil || req != (Request{1, "a", 2}) {
		t.Errorf("Next = %v, %v", req, err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Open(missing) = %v, want an error naming the file", err)
	}
}

// tracesDir finds the shared traces: $EDGECACHE_TRACES, or shared/traces
// beside the checkout (walking up from the package directory).
func tracesDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("EDGECACHE_TRACES"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		d := filepath.Join(dir, "shared", "traces")
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "/work/shared/traces"
		}
		dir = parent
	}
}

// TestRealTraces parses the shared traces and checks the counts in their
// README.
//
// The README gives 36,815 distinct keys for the AdaptSize trace, but its
// keys are "id:size" and 40,240 of them are distinct; 36,815 is the number
// of distinct ids (the README's own reference figures — an infinite cache
// reaching its 0.399 Belady ratio — match 40,240 distinct objects). Both
// are checked.
func TestRealTraces(t *testing.T) {
	tests := []struct {
		file              string
		requests, keys    int
		ids, uniqueBytes  int64
		checkIDsAndBytes  bool
		maxSize           int64
		firstKey, lastKey string
	}{
		{"adaptsize_request.tr.gz", 66987, 40240, 36815, 304213576, true, 0, "0:68", "36814:1460"},
		{"youtube_umass_012908S1.tr.gz", 26633, 13501, 0, 13501, false, 1, "lML9dik8QNw", ""},
		{"youtube_umass_061807.tr.gz", 5771, 4513, 0, 4513, false, 1, "Iby-dzo8HMk", ""},
	}
	dir := tracesDir(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("trace not available: %v", err)
			}
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			keys := map[string]bool{}
			ids := map[string]bool{}
			var n int
			var unique int64
			var last Request
			for {
				req, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 && req.Key != tt.firstKey {
					t.Errorf("first key %q, want %q", req.Key, tt.firstKey)
				}
				if tt.maxSize > 0 && req.Size > tt.maxSize {
					t.Fatalf("size %d > %d", req.Size, tt.maxSize)
				}
				n++
				if !keys[req.Key] {
					keys[req.Key] = true
					unique += req.Size
				}
				id, _, _ := strings.Cut(req.Key, ":")
				ids[id] = true
				last = req
			}
			if n != tt.requests || len(keys) != tt.keys || unique != tt.uniqueBytes {
				t.Errorf("requests %d, distinct keys %d, unique bytes %d; want %d, %d, %d",
					n, len(keys), unique, tt.requests, tt.keys, tt.uniqueBytes)
			}
			if tt.checkIDsAndBytes && int64(len(ids)) != tt.ids {
				t.Errorf("distinct ids %d, want %d", len(ids), tt.ids)
			}
			if tt.lastKey != "" && last.Key != tt.lastKey {
				t.Errorf("last key %q, want %q", last.Key, tt.lastKey)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	seeds := []string{
		"1 a 10\n2 b 20\n3 c 1\n",
		"1 a 10\r\n2 b 20\r\n",
		"# c\n\n1.5 a 1\n",
		"1 a 0\n",
		"1 a\n",
		"time,key,size\n1,a,10\n2,\"b,c\",3\n",
		"Size,KEY\n5,x\n",
		"key\na\n\"\"\n",
		"a,\"x,key\"\n1,2\n",
		"time,key,size\n1,\"a\"\"b\",1\n1,\"unterminated,1\n",
		"-1 a 1\n+2 b 2\n9223372036854775807 c 9223372036854775807\n",
		"99999999999999999999 a 1\n",
		"",
		"\x1f\x8b",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add(gzipBytes(f, []byte("1 a 10\n2 b 20\n")))
	f.Add(gzipBytes(f, []byte("time,key,size\n1,a,10\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), "fuzz")
		if err != nil {
			return
		}
		defer r.Close()
		for {
			req, err := r.Next()
			if err != nil {
				var te *Error
				if errors.As(err, &te) && (te.Line < 1 || te.File != "fuzz") {
					t.Fatalf("bad error position: %v", err)
				}
				return
			}
			if req.Size < 1 || req.Key == "" {
				t.Fatalf("accepted bad request %+v", req)
			}
		}
	})
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	for i := range 100000 {
		fmt.Fprintf(&buf, "%d %d:%d %d\n", 1500000000+i, i%5000, 100+i%997, 100+i%997)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(data), "bench")
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, _, _, err := r.NextBytes(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
		}
	}
	b.ReportMetric(float64(b.N)*100000/b.Elapsed().Seconds(), "lines/s")
}
