package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgecache/cache/disk/disktest"
	"edgecache/origin"
)

// keepAliveClient returns a client that sends every request over one
// keep-alive connection, as a player does.
func keepAliveClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true},
		Timeout:   30 * time.Second,
	}
}

// fetchChecked GETs path (a Range of [off, off+n) when n > 0) and compares
// the body with the synthetic origin's bytes. It returns the Cache-Status,
// or an error describing what was wrong.
func fetchChecked(c *http.Client, addr, path string, off, n int64) (string, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	if n > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("GET %s: body cut after %d bytes: %w", path, len(body), err)
	}
	if want := map[bool]int{true: 206, false: 200}[n > 0]; resp.StatusCode != want {
		return "", fmt.Errorf("GET %s: status %d, want %d", path, resp.StatusCode, want)
	}
	want := make([]byte, len(body))
	origin.FillContent(path, off, want)
	if n > 0 && int64(len(body)) != n {
		return "", fmt.Errorf("GET %s: %d bytes, want %d", path, len(body), n)
	}
	if !bytes.Equal(body, want) {
		return "", fmt.Errorf("GET %s [%d,+%d): bytes differ from the origin's", path, off, len(body))
	}
	return resp.Header.Get("Cache-Status"), nil
}

// syntheticOrigin serves the synthetic origin on 127.0.0.1 and counts the
// requests that reach it.
func syntheticOrigin(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var hits atomic.Int64
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		syn.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts, &hits
}

// Issue #8 §1: after a restart objects are first learned from disk, and the
// key the cache kept for them must be its own copy, not a view of the
// keep-alive connection's request buffer that the next request overwrites.
// Connection A asks for X, X, then Y (a path of the same length); then
// connection B asks for X four times. Every answer must be the origin's.
func TestDiskWarmRestartKeepAliveKeys(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			ts, hits := syntheticOrigin(t)
			cacheDir := filepath.Join(t.TempDir(), "cache1")
			os.Mkdir(cacheDir, 0o755)
			args := []string{"--origin", ts.URL, "--mem", "16MiB", "--disk", cacheDir + ":256MiB"}
			const x, y = "/s/3M/x1.m4s", "/s/3M/y1.m4s"
			d := startDaemon(t, args...)
			d.waitReady(t)
			c := keepAliveClient()
			for _, p := range []string{x, y} {
				if _, err := fetchChecked(c, d.addr, p, 0, 0); err != nil {
					t.Fatal(err)
				}
			}
			waitChunkFiles(t, cacheDir, 6)
			d.stop(t, sig)

			hits.Store(0)
			d = startDaemon(t, args...)
			d.waitReady(t)
			a, b := keepAliveClient(), keepAliveClient()
			for _, p := range []string{x, x, y} {
				if _, err := fetchChecked(a, d.addr, p, 0, 0); err != nil {
					t.Errorf("connection A: %v", err)
				}
			}
			for i := range 4 {
				cs, err := fetchChecked(b, d.addr, x, 0, 0)
				if err != nil {
					t.Errorf("connection B, request %d: %v", i+1, err)
				} else if cs != "edgecache; hit; detail=mem" && cs != "edgecache; hit; detail=disk" {
					t.Errorf("connection B, request %d: Cache-Status %q, want a hit", i+1, cs)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("origin asked %d times after the restart, want 0", n)
			}
			d.stop(t, syscall.SIGTERM)
		})
	}
}

// waitChunkFiles waits until dir holds at least n chunk files.
func waitChunkFiles(t *testing.T, dir string, n int) {
	t.Helper()
	for i := 0; len(disktest.ChunkFiles(dir)) < n; i++ {
		if i > 1000 {
			t.Fatalf("%d chunk files on disk, want %d", len(disktest.ChunkFiles(dir)), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Issue #8 §1 under load: kill -9 the daemon while keep-alive clients
// stream objects, restart it on the same disk, five times. No answer may
// carry a wrong byte, and the daemon never exits by itself. With a disk
// that holds every object, restarts find them; with one that holds a
// third, every cycle evicts and writes chunks into recycled files while it
// is killed.
func TestKillRestartLoopUnderLoad(t *testing.T) {
	for _, tc := range []struct {
		name, size string
		recycles   bool
	}{{"disk holds all", "256MiB", false}, {"disk evicts", "16MiB", true}} {
		t.Run(tc.name, func(t *testing.T) { killRestartLoop(t, tc.size, tc.recycles) })
	}
}

func killRestartLoop(t *testing.T, diskSize string, recycles bool) {
	ts, _ := syntheticOrigin(t)
	cacheDir := filepath.Join(t.TempDir(), "cache1")
	os.Mkdir(cacheDir, 0o755)
	args := []string{"--origin", ts.URL, "--mem", "16MiB", "--disk", cacheDir + ":" + diskSize}
	// Paths of equal length, so a key viewing a reused request buffer would
	// silently become another object's key.
	paths := make([]string, 24)
	for i := range paths {
		paths[i] = fmt.Sprintf("/s/2M/o%02d.m4s", i)
	}
	// EDGECACHE_KILL_CYCLES=N runs a longer loop by hand.
	cycles, clients := 5, 6
	if n, err := strconv.Atoi(os.Getenv("EDGECACHE_KILL_CYCLES")); err == nil && n > 0 {
		cycles = n
	}
	var responses, wrong, cut atomic.Int64
	var last *daemon
	for cycle := range cycles + 1 {
		d := startDaemon(t, args...)
		last = d
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for cl := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := keepAliveClient()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					p := paths[(cl*7+i*5+cycle)%len(paths)]
					off, n := int64(0), int64(0)
					if i%3 == 1 {
						off, n = int64(i%4)*400_000+1, 700_000
					}
					_, err := fetchChecked(c, d.addr, p, off, n)
					switch {
					case err == nil:
						responses.Add(1)
					case bytes.Contains([]byte(err.Error()), []byte("differ")):
						wrong.Add(1)
						t.Errorf("cycle %d: %v", cycle, err)
					default:
						cut.Add(1) // the kill: connections refused or cut, never wrong bytes
					}
				}
			}()
		}
		time.Sleep(1500 * time.Millisecond)
		select {
		case <-d.done:
			t.Fatalf("cycle %d: the daemon exited by itself", cycle)
		default:
		}
		close(stop) // clients end after their current request, which the kill cuts
		if cycle < cycles {
			d.cmd.Process.Kill()
			<-d.done
		} else {
			d.stop(t, syscall.SIGTERM)
		}
		wg.Wait()
	}
	t.Logf("%d restarts: %d verified responses, %d wrong, %d cut by the kills", cycles, responses.Load(), wrong.Load(), cut.Load())
	if responses.Load() == 0 {
		t.Fatal("no response was served")
	}
	if n := last.recycled(t); recycles && n <= 0 {
		t.Errorf("the last cycle recycled %d chunk files (-1: no totals logged): the eviction case shows nothing", n)
	} else {
		t.Logf("the last cycle recycled %d chunk files", n)
	}
}

// writeConfig writes a config file for a daemon with one cache directory
// and the given extra YAML under cache:, and returns its path.
func writeConfig(t *testing.T, originURL, cacheDir, cacheExtra string) string {
	t.Helper()
	cfg := fmt.Sprintf("origin:\n  url: %s\ncache:\n  memory: 16MiB\n  disks:\n    - path: %s\n      size: 256MiB\n%s",
		originURL, cacheDir, cacheExtra)
	p := filepath.Join(t.TempDir(), "edgecache.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// startOnDisk starts a daemon over originURL with the config writeConfig
// writes (cacheExtra added) for the disk tier in cacheDir, which it
// creates if it does not exist, waits until it is ready, and returns it
// with the config file.
func startOnDisk(t *testing.T, originURL, cacheDir, cacheExtra string) (*daemon, string) {
	t.Helper()
	os.Mkdir(cacheDir, 0o755)
	conf := writeConfig(t, originURL, cacheDir, cacheExtra)
	d := startDaemon(t, "--config", conf)
	d.waitReady(t)
	return d, conf
}

// Issue #8 §3 through the daemon: bytes damaged in place on disk while it
// runs are found by the scrubber (here at a high rate), dropped and
// fetched again; no client ever gets a wrong byte from a copy, and after
// the scrub pass none from sendfile either.
func TestCorruptionWhileRunning(t *testing.T) {
	ts, hits := syntheticOrigin(t)
	cacheDir := filepath.Join(t.TempDir(), "cache1")
	d, conf := startOnDisk(t, ts.URL, cacheDir, "  scrub_rate: 1GiB\n")
	const obj = "/s/4M/damaged.m4s"
	c := keepAliveClient()
	if _, err := fetchChecked(c, d.addr, obj, 0, 0); err != nil {
		t.Fatal(err)
	}
	waitChunkFiles(t, cacheDir, 4)
	files := disktest.ChunkFiles(cacheDir)
	for _, f := range files {
		disktest.FlipByte(t, f, 1000)
	}
	// The scrubber finds every damaged chunk; the daemon drops them.
	for i := 0; len(disktest.ChunkFiles(cacheDir)) > 0; i++ {
		if i > 1000 {
			t.Fatalf("%d damaged chunk files still on disk", len(disktest.ChunkFiles(cacheDir)))
		}
		time.Sleep(10 * time.Millisecond)
	}
	hits.Store(0)
	for range 3 { // memory may still hold the chunks; whatever answers must be right
		if _, err := fetchChecked(c, d.addr, obj, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	d.stop(t, syscall.SIGTERM)
	// A fresh start knows only the disk: the object is fetched again and
	// served right.
	d = startDaemon(t, "--config", conf)
	d.waitReady(t)
	if _, err := fetchChecked(keepAliveClient(), d.addr, obj, 0, 0); err != nil {
		t.Fatal(err)
	}
	if hits.Load() == 0 {
		t.Error("the damaged chunks were never fetched again")
	}
	d.stop(t, syscall.SIGTERM)
}

// Bytes damaged in place through the file system while the daemon runs,
// with no scrubber to find them, never reach a client: a disk hit sees
// that the chunk's file was modified since the daemon stamped it, verifies
// it, drops it and fetches the chunk again, before sendfile could send it.
// The object is twice the memory tier, so most answers come from disk.
func TestDamagedInPlaceNeverServed(t *testing.T) {
	ts, hits := syntheticOrigin(t)
	cacheDir := filepath.Join(t.TempDir(), "cache1")
	d, _ := startOnDisk(t, ts.URL, cacheDir, "  scrub_rate: 0\n")
	const obj, size = "/s/32M/stamped.m4s", 32 << 20
	c := keepAliveClient()
	if _, err := fetchChecked(c, d.addr, obj, 0, 0); err != nil {
		t.Fatal(err)
	}
	waitChunkFiles(t, cacheDir, size/(256<<10))
	for _, f := range disktest.ChunkFiles(cacheDir) {
		disktest.FlipByte(t, f, 1000)
	}
	hits.Store(0)
	for range 2 {
		if _, err := fetchChecked(c, d.addr, obj, 0, 0); err != nil {
			t.Fatal(err)
		}
		for _, off := range []int64{0, 5 << 20, 17<<20 + 12345, size - 300_000} {
			if _, err := fetchChecked(c, d.addr, obj, off, 300_000); err != nil {
				t.Fatal(err)
			}
		}
	}
	if hits.Load() == 0 {
		t.Error("the damaged chunks were never fetched again")
	}
	if !strings.Contains(d.logText(), "chunk checksum mismatch, dropped") {
		t.Error("no WARN for the damaged chunks")
	}
	d.stop(t, syscall.SIGTERM)
}

// A full file system under a running daemon: its cache dir is an 8 MiB
// tmpfs given a 256 MiB budget, and clients fetch 24 MiB. Every answer is
// the origin's bytes, the disk stays in service, and it keeps holding
// chunks within what fits (its budget cut when a write meets ENOSPC, or
// by the periodic check before that). Mounting needs root.
func TestFullDiskWhileRunning(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot mount a size-limited tmpfs")
	}
	dir := filepath.Join(t.TempDir(), "small")
	os.Mkdir(dir, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s)", err, out)
	}
	t.Cleanup(func() { // after the daemon's own cleanup, which stops it
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	ts, _ := syntheticOrigin(t)
	d, _ := startOnDisk(t, ts.URL, dir, "  disk_check_interval: 300ms\n")
	c := keepAliveClient()
	for pass := range 2 {
		for i := range 12 {
			obj := fmt.Sprintf("/s/2M/full-%d.m4s", i)
			if _, err := fetchChecked(c, d.addr, obj, 0, 0); err != nil {
				t.Fatalf("pass %d: %v", pass, err)
			}
			if _, err := fetchChecked(c, d.addr, obj, 100_000, 300_000); err != nil {
				t.Fatalf("pass %d: %v", pass, err)
			}
		}
	}
	log := d.logText()
	if strings.Contains(log, "disk taken out of service") {
		t.Error("the full disk was taken out of service")
	}
	if !strings.Contains(log, "disk full") && !strings.Contains(log, "disk budget below its configured size") {
		t.Error("no WARN about the full file system")
	}
	if len(disktest.ChunkFiles(dir)) == 0 {
		t.Error("the full disk holds no chunks")
	}
	d.stop(t, syscall.SIGTERM)
}

// Issue #8 §4 through the daemon: a cache directory removed under a running
// daemon is taken out of service with an ERROR line and not re-created;
// clients keep getting the origin's bytes.
func TestCacheDirRemovedWhileRunning(t *testing.T) {
	ts, _ := syntheticOrigin(t)
	cacheDir := filepath.Join(t.TempDir(), "cache1")
	d, _ := startOnDisk(t, ts.URL, cacheDir, "  disk_check_interval: 100ms\n")
	c := keepAliveClient()
	if _, err := fetchChecked(c, d.addr, "/s/2M/before.m4s", 0, 0); err != nil {
		t.Fatal(err)
	}
	waitChunkFiles(t, cacheDir, 2)
	if err := os.RemoveAll(cacheDir); err != nil {
		t.Fatal(err)
	}
	for i := 0; !d.logged("disk taken out of service"); i++ {
		if i > 500 {
			t.Fatal("no ERROR line about the removed cache directory")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := range 5 {
		if _, err := fetchChecked(c, d.addr, fmt.Sprintf("/s/2M/after%d.m4s", i), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fetchChecked(c, d.addr, "/s/2M/before.m4s", 0, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(cacheDir); err == nil {
		t.Fatal("the removed cache directory was re-created")
	}
	d.stop(t, syscall.SIGTERM)
}

// recycled returns the disk_files_recycled count of the daemon's "cache
// totals" line (logged when it stops), or -1 if it logged none.
func (d *daemon) recycled(t *testing.T) int64 {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	re := regexp.MustCompile(`cache totals.* disk_files_recycled=(\d+)`)
	for _, line := range d.log {
		if m := re.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			return n
		}
	}
	return -1
}
