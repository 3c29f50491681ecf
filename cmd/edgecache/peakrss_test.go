package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"edgecache/origin"
)

// BenchmarkPeakRSS runs the daemon as a child process with --mem 64MiB in
// front of a synthetic origin, streams 2 GiB of distinct objects through it
// with 16 clients (every byte checked against the origin's), and fails if
// the child's peak resident size (VmHWM) exceeds the memory plan's limit.
// It is a benchmark so that "go test ./..." does not stream 2 GiB:
//
//	go test -run '^$' -bench PeakRSS -benchtime 1x ./cmd/edgecache/
func BenchmarkPeakRSS(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchPeakRSS(b, false) })
	b.Run("disk", func(b *testing.B) { benchPeakRSS(b, true) })
}

func benchPeakRSS(b *testing.B, disk bool) {
	const (
		clients    = 16
		objectSize = 128 << 20 // 16 × 128 MiB = 2 GiB per iteration
	)
	ts := httptest.NewServer(origin.NewSynthetic(origin.SyntheticOptions{}))
	defer ts.Close()
	args := []string{"--origin", ts.URL, "--mem", "64MiB", "--log-level", "info"}
	if disk {
		args = append(args, "--disk", b.TempDir()+":4GiB")
	}
	limit := planLimit(b, args)

	d := startDaemon(b, args...)
	if disk {
		d.waitReady(b)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	b.SetBytes(clients * objectSize)
	b.ResetTimer()
	for i := range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- streamChecked(client, d.addr, fmt.Sprintf("/s/%d/peakrss-%d-%d", objectSize, i, c), objectSize)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	peak, err := peakRSS(d.cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(float64(limit)/(1<<20), "limit-MiB")
	if peak > limit {
		b.Fatalf("peak RSS %.1f MiB exceeds the memory plan's limit %.1f MiB", float64(peak)/(1<<20), float64(limit)/(1<<20))
	}
}

// planLimit is the memory plan's limit for "serve args...", computed as
// serve computes it.
func planLimit(tb testing.TB, args []string) int64 {
	tb.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		tb.Fatal(err)
	}
	cfg, err := f.load(fs)
	if err != nil {
		tb.Fatal(err)
	}
	return memoryPlanFor(cfg).limit()
}

// streamChecked GETs the whole object at path through the cache at addr and
// compares it, a MiB at a time, with the synthetic origin's bytes.
func streamChecked(client *http.Client, addr, path string, size int64) error {
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength != size {
		return fmt.Errorf("%s: status %d, length %d, want 200 and %d", path, resp.StatusCode, resp.ContentLength, size)
	}
	got, want := make([]byte, 1<<20), make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(got)) {
		if _, err := io.ReadFull(resp.Body, got); err != nil {
			return fmt.Errorf("%s at byte %d: %w", path, off, err)
		}
		origin.FillContent(path, off, want)
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s [%d,+%d): bytes differ from the origin's", path, off, len(got))
		}
	}
	return nil
}

// peakRSS returns the peak resident size of process pid (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// The memory plan's limit is the sum of its documented terms (README,
// "Memory use").
func TestMemoryPlanLimit(t *testing.T) {
	const mib = 1 << 20
	dir := t.TempDir()
	tests := []struct {
		args []string
		want int64
	}{
		// arena 64 + 64 fetch, heap 65536 × 5 KiB + 16 status answers + 1024 × 32 KiB
		// + 64 of answers without Content-Length, 32 outside
		{[]string{"--origin", "http://o", "--mem", "64MiB"}, (64 + 64 + 320 + 16 + 32 + 64 + 32) * mib},
		// two upstreams before the origin: three clients' answers without Content-Length
		{[]string{"--origin", "http://u1", "--origin", "http://u2", "--origin", "http://o", "--mem", "64MiB"}, (64 + 64 + 320 + 16 + 32 + 3*64 + 32) * mib},
		// and a 64 MiB disk queue, and a disk index of 1 GiB / 64 KiB (a quarter chunk) = 16384 chunks × 640 B
		{[]string{"--origin", "http://o", "--mem", "64MiB", "--disk", dir + ":1GiB"}, (64 + 64 + 64 + 320 + 16 + 10 + 32 + 64 + 32) * mib},
		// 100 GiB of disk: 1638400 chunks indexed at most, 1000 MiB
		{[]string{"--origin", "http://o", "--mem", "64MiB", "--disk", dir + ":100GiB"}, (64 + 64 + 64 + 320 + 16 + 1000 + 32 + 64 + 32) * mib},
		// 8 GiB of 256 KiB chunks: max(65536, 4 × 32768) = 131072 index entries, 640 MiB
		{[]string{"--origin", "http://o", "--mem", "8GiB"}, (8192 + 64 + 640 + 16 + 32 + 64 + 32) * mib},
		// 64 GiB of 256 KiB chunks: 1048576 index entries, 5120 MiB
		{[]string{"--origin", "http://o", "--mem", "64GiB"}, (65536 + 64 + 5120 + 16 + 32 + 64 + 32) * mib},
	}
	for _, tt := range tests {
		if got := planLimit(t, tt.args); got != tt.want {
			t.Errorf("%v: limit %d MiB, want %d MiB", tt.args, got/mib, tt.want/mib)
		}
	}
}
