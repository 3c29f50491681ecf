package popularity

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// logLine returns an access log line as the daemon writes it.
func logLine(date, path string, status int, n int64) string {
	return fmt.Sprintf(`{"time":"%sT20:15:02.123456789Z","client":"192.0.2.7","method":"GET","path":"%s","range":"bytes=0-1048575","status":%d,"bytes":%d,"cache":"hit","ttfb":0.000081,"duration":0.00412,"upstream_bytes":0}`+"\n", date, path, status, n)
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.EncodeAll(b, nil)
}

func TestRead(t *testing.T) {
	plain := logLine("2026-01-05", "/v/a/1.m4s", 206, 100) +
		"not json\n" +
		logLine("2026-01-05", "/v/a/1.m4s", 200, 50) +
		"\n" + // empty lines are not lines
		`{"time":"2026-01-05T00:00:00Z","path":"/v/a/1.m4s","status":206}` + "\n" + // no bytes
		logLine("2026-01-05", "/v/b/1.m4s", 404, 10) + // not content
		logLine("2026-01-06", "/v/b/1.m4s", 206, 7) +
		`{"time":"2026-01-06T00:00:00Z","path":"/v/b/1.m4s","status":206,"bytes":3}` // no final newline
	long := logLine("2026-01-05", "/v/a/1.m4s", 206, 100) + strings.Repeat("x", MaxLineLength+10) + "\n" + logLine("2026-01-05", "/v/a/1.m4s", 206, 1)
	tests := []struct {
		name    string
		data    []byte
		lines   int64
		bad     int64
		counted int64
		bytes   int64
		files   int
		readErr bool
	}{
		{"plain", []byte(plain), 7, 2, 4, 160, 2, false},
		{"gzip", gz(t, []byte(plain)), 7, 2, 4, 160, 2, false},
		{"zstd", zst(t, []byte(plain)), 7, 2, 4, 160, 2, false},
		{"long line", []byte(long), 3, 1, 2, 101, 1, false},
		{"truncated gzip", gz(t, []byte(plain))[:40], 0, 0, 0, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAggregate()
			if err := a.Read(context.Background(), bytes.NewReader(tt.data), "log"); err != nil {
				t.Fatal(err)
			}
			s := a.Stats()
			if s.Bad != tt.bad || s.Counted != tt.counted || s.Bytes != tt.bytes || a.Files() != tt.files || (len(s.ReadErrors) > 0) != tt.readErr {
				t.Errorf("stats %+v, files %d; want bad %d counted %d bytes %d files %d read error %v", s, a.Files(), tt.bad, tt.counted, tt.bytes, tt.files, tt.readErr)
			}
			if !tt.readErr && s.Lines != tt.lines {
				t.Errorf("lines %d, want %d", s.Lines, tt.lines)
			}
			if tt.bad > 0 && len(s.BadExamples) == 0 {
				t.Error("no bad line described")
			}
		})
	}
}

func TestReadFilesParallelSameResult(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := range 5 {
		var b strings.Builder
		for j := range 200 {
			fmt.Fprint(&b, logLine(fmt.Sprintf("2026-01-%02d", 1+i), fmt.Sprintf("/v/t%d/%d.m4s", j%7, j%13), 206, int64(i*1000+j)))
		}
		name := filepath.Join(dir, fmt.Sprintf("access.log.%d", i))
		data := []byte(b.String())
		if i%2 == 1 {
			data = gz(t, data)
		}
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	one, two := NewAggregate(), NewAggregate()
	if err := one.ReadFiles(context.Background(), names, 1); err != nil {
		t.Fatal(err)
	}
	if err := two.ReadFiles(context.Background(), names, 3); err != nil {
		t.Fatal(err)
	}
	w1, d1 := Weights(one, Weighting{})
	w2, d2 := Weights(two, Weighting{})
	if fmt.Sprint(w1, d1) != fmt.Sprint(w2, d2) || one.Stats().Counted != 1000 || two.Stats().Counted != 1000 || one.Stats().Files != 5 {
		t.Errorf("parallel read differs: %v %v / %v %v", one.Stats(), w1, two.Stats(), w2)
	}
	if err := NewAggregate().ReadFiles(context.Background(), []string{filepath.Join(dir, "missing")}, 1); err == nil {
		t.Error("a missing file is not an error")
	}
}

// BenchmarkRead measures lines per second through the reader, parser and
// aggregation, plain and gzip-compressed (daemon-written lines, 20000
// files of 100 titles).
func BenchmarkRead(b *testing.B) {
	var buf bytes.Buffer
	const n = 200000
	for i := range n {
		buf.WriteString(logLine("2026-01-05", fmt.Sprintf("/v/title%d/%d.m4s", i%100, i%20000/100), 206, 1048576))
	}
	for _, c := range []struct {
		name string
		data []byte
	}{{"plain", buf.Bytes()}, {"gzip", gz(b, buf.Bytes())}, {"zstd", zst(b, buf.Bytes())}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				a := NewAggregate()
				if err := a.Read(context.Background(), bytes.NewReader(c.data), "log"); err != nil || a.Stats().Counted != n {
					b.Fatal(err, a.Stats())
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
