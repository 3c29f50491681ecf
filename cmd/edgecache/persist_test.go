package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgecache/cache/disk/disktest"
	"edgecache/origin"
	"edgecache/server"
)

// TestMain lets a test run this test binary as the edgecache daemon: with
// EDGECACHE_TEST_MAIN=1 it is the command, not the tests.
func TestMain(m *testing.M) {
	if os.Getenv("EDGECACHE_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// daemon is an edgecache serve child process.
type daemon struct {
	cmd   *exec.Cmd
	addr  string
	ready chan struct{} // closed when the disk index is loaded
	done  chan struct{} // closed when the process has exited

	mu  sync.Mutex
	log []string // every line the daemon wrote to stderr so far
}

// logged reports whether a line the daemon logged so far contains s.
// logText returns every line the daemon logged so far.
func (d *daemon) logText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.log, "\n")
}

func (d *daemon) logged(s string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.log {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

var listenRE = regexp.MustCompile(`msg="edgecache serving" listen=(\S+)`)

// startDaemon runs "edgecache serve args..." as a child process and waits
// until it listens.
func startDaemon(t testing.TB, args ...string) *daemon {
	t.Helper()
	return startDaemonEnv(t, nil, args...)
}

// startDaemonEnv is startDaemon with env added to the child's environment.
func startDaemonEnv(t testing.TB, env []string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), "EDGECACHE_TEST_MAIN=1"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{cmd: cmd, ready: make(chan struct{}), done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20) // a recovered panic's line carries its stack
		readyClosed := false
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.log = append(d.log, line)
			d.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
			if strings.Contains(line, "disk index loaded") && !readyClosed {
				close(d.ready)
				readyClosed = true
			}
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN") {
				t.Logf("daemon: %s", line)
			}
			if strings.Contains(line, server.PanicLogMessage) {
				// A panic is a bug even when the answers look right.
				t.Errorf("the daemon recovered a panic: %s", line)
			}
		}
		if err := sc.Err(); err != nil {
			t.Errorf("reading the daemon's log: %v", err)
			io.Copy(io.Discard, stderr) // keep the daemon from blocking on its log
		}
		cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-d.done
	})
	select {
	case d.addr = <-addr:
	case <-d.done:
		t.Fatal("daemon exited at start")
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not start listening")
	}
	return d
}

func (d *daemon) waitReady(t testing.TB) {
	t.Helper()
	select {
	case <-d.ready:
	case <-time.After(20 * time.Second):
		t.Fatal("disk index never loaded")
	}
}

func (d *daemon) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not exit on %v", sig)
	}
}

// get fetches path through the daemon and checks the bytes against the
// synthetic origin's; it returns the Cache-Status.
func (d *daemon) get(t *testing.T, path string, off, n int64) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.addr+path, nil)
	if n > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if n <= 0 {
		n = int64(len(body))
	}
	want := make([]byte, n)
	origin.FillContent(path, off, want)
	if !bytes.Equal(body, want) {
		t.Fatalf("%s [%d,+%d): %d bytes, differ from the origin's (status %d)", path, off, n, len(body), resp.StatusCode)
	}
	return resp.Header.Get("Cache-Status")
}

// What a daemon put on disk is served again after a restart, clean (SIGTERM)
// or kill -9, as disk hits, byte-exact, with no origin request.
func TestPersistenceAcrossRestart(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			var originHits atomic.Int64
			syn := origin.NewSynthetic(origin.SyntheticOptions{})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				originHits.Add(1)
				syn.ServeHTTP(w, r)
			}))
			defer ts.Close()
			dir := t.TempDir()
			cacheDir := filepath.Join(dir, "cache1")
			os.Mkdir(cacheDir, 0o755)
			args := []string{"--origin", ts.URL, "--mem", "16MiB", "--disk", cacheDir + ":256MiB", "--log-level", "info"}

			reqs := []struct {
				path   string
				off, n int64
			}{
				{"/s/3M/a.m4s", 0, 0},                    // 3 chunks
				{"/s/5000/b.m4s", 0, 0},                  // 1 short chunk
				{"/s/8M/c.m4s", 3_000_000, 2_000_000},    // chunks 2..4
				{"/s/3000000/d.m4s", 2_500_000, 500_000}, // the short last chunk
			}
			const chunks = 3 + 1 + 3 + 1
			d := startDaemon(t, args...)
			d.waitReady(t)
			for _, r := range reqs {
				d.get(t, r.path, r.off, r.n)
			}
			for i := 0; len(disktest.ChunkFiles(cacheDir)) < chunks; i++ {
				if i > 500 {
					t.Fatalf("%d chunk files on disk, want %d", len(disktest.ChunkFiles(cacheDir)), chunks)
				}
				time.Sleep(10 * time.Millisecond)
			}
			d.stop(t, sig)

			originHits.Store(0)
			d = startDaemon(t, args...)
			d.waitReady(t)
			for _, r := range reqs {
				if cs := d.get(t, r.path, r.off, r.n); !strings.Contains(cs, "; hit") {
					t.Errorf("%s after restart: Cache-Status %q, want a hit", r.path, cs)
				}
			}
			if n := originHits.Load(); n != 0 {
				t.Fatalf("origin asked %d times after the restart, want 0", n)
			}
			d.stop(t, syscall.SIGTERM)
		})
	}
}
