package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"edgecache/admin"
	"edgecache/config"
	"edgecache/origin"
)

var adminRE = regexp.MustCompile(`msg="edgecache serving" .*admin=(\S+)`)

// adminURL returns the base URL of the daemon's admin listener.
func (d *daemon) adminURL(t *testing.T) string {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range d.log {
		if m := adminRE.FindStringSubmatch(l); m != nil {
			return "http://" + m[1]
		}
	}
	t.Fatal("the daemon did not log its admin address")
	return ""
}

// waitLog waits until the daemon has logged a line containing s.
func (d *daemon) waitLog(t *testing.T, s string) {
	t.Helper()
	for i := 0; !d.logged(s); i++ {
		if i > 1000 {
			t.Fatalf("the daemon never logged %q; it logged:\n%s", s, d.logText())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// adminGet sends GET path with the token (none if "") and returns the
// status.
func adminGet(t *testing.T, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// originURL starts the synthetic origin and returns its URL.
func originURL(t *testing.T) string {
	ts, _ := syntheticOrigin(t)
	return ts.URL
}

// SIGTERM during a long download lets it finish, byte-exact, then the
// daemon exits 0.
func TestSIGTERMDrains(t *testing.T) {
	d := startDaemon(t, "--origin", originURL(t), "--mem", "64MiB")
	const path = "/s/24M/long.m4s"
	resp, err := http.Get("http://" + d.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make([]byte, 24<<20)
	if _, err := io.ReadFull(resp.Body, got[:1<<20]); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.waitLog(t, "shutting down")
	select {
	case <-d.done:
		t.Fatal("the daemon exited with a response in progress")
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := io.ReadFull(resp.Body, got[1<<20:]); err != nil {
		t.Fatalf("the download was cut: %v", err)
	}
	want := make([]byte, len(got))
	origin.FillContent(path, 0, want)
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes differ from the origin's")
	}
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the daemon did not exit")
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// SIGHUP applies a valid file's live settings (token, log level, access
// log reopened), names those needing a restart, and rejects an invalid file
// with its file:line: field errors, keeping the running configuration.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	accessLog := filepath.Join(dir, "access.log")
	cfgFile := filepath.Join(dir, "config.yaml")
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	base := fmt.Sprintf("origin: {url: %s}\ncache: {memory: 16MiB}\nlog: {access: %s, level: %%s}\nadmin: {token_file: %s}\n",
		originURL(t), accessLog, tokenFile)
	write(tokenFile, "token-one\n")
	write(cfgFile, fmt.Sprintf(base, "info"))
	d := startDaemon(t, "--config", cfgFile)
	stats := d.adminURL(t) + "/stats"
	if c := adminGet(t, stats, "token-one"); c != 200 {
		t.Fatalf("token-one: %d", c)
	}
	d.get(t, "/s/1000/a.m4s", 0, 0)

	// logrotate moves the log away, then reloads.
	if err := os.Rename(accessLog, accessLog+".1"); err != nil {
		t.Fatal(err)
	}
	write(tokenFile, "token-two")
	write(cfgFile, fmt.Sprintf(base, "debug")+"server: {max_ranges: 8, max_connections: 99, max_connections_per_ip: 5}\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, `msg="configuration reloaded" applied="server.max_ranges, server.max_connections_per_ip, log.level"`)
	d.waitLog(t, `fields=server.max_connections`)
	if c := adminGet(t, stats, "token-one"); c != 401 {
		t.Errorf("old token after reload: %d, want 401", c)
	}
	if c := adminGet(t, stats, "token-two"); c != 200 {
		t.Errorf("new token after reload: %d, want 200", c)
	}
	d.get(t, "/s/1000/b.m4s", 0, 0)
	time.Sleep(100 * time.Millisecond)
	for name, want := range map[string]string{accessLog + ".1": "/s/1000/a.m4s", accessLog: "/s/1000/b.m4s"} {
		b, err := os.ReadFile(name)
		if err != nil || !strings.Contains(string(b), `"path":"`+want+`"`) || strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s: %q, %v; want one line for %s", name, b, err, want)
		}
	}

	write(cfgFile, fmt.Sprintf(base, "loud")+"cache: {chunk_size: 1 MiB}\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "configuration rejected")
	if !d.logged(cfgFile + ":3: log.level") {
		t.Errorf("the rejection does not name %s:3: log.level", cfgFile)
	}
	if c := adminGet(t, stats, "token-two"); c != 200 {
		t.Errorf("token after a rejected reload: %d, want 200", c)
	}
	d.get(t, "/s/1000/c.m4s", 0, 0)
	d.stop(t, syscall.SIGTERM)
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// SIGHUP applies new origin, upstream and freshness settings live: the
// next miss goes to the new origin, with its bytes.
func TestReloadOrigin(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	tsA, hitsA := syntheticOrigin(t)
	tsB, hitsB := syntheticOrigin(t)
	write := func(url string) {
		t.Helper()
		s := fmt.Sprintf("origin: {url: %s}\ncache: {memory: 16MiB, ttl_overrides: [{prefix: /s/, ttl: 1h}]}\n", url)
		if err := os.WriteFile(cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(tsA.URL)
	d := startDaemon(t, "--config", cfgFile)
	d.get(t, "/s/3000/a.m4s", 0, 0)
	if hitsA.Load() == 0 || hitsB.Load() != 0 {
		t.Fatalf("before the reload: origin A %d requests, B %d", hitsA.Load(), hitsB.Load())
	}
	write(tsB.URL)
	d.cmd.Process.Signal(syscall.SIGHUP)
	d.waitLog(t, "upstreams replaced")
	d.waitLog(t, `applied=origin.url`)
	a := hitsA.Load()
	d.get(t, "/s/3000/b.m4s", 0, 0)
	d.get(t, "/s/3000/a.m4s", 0, 0) // still fresh: a hit
	if hitsB.Load() != 1 || hitsA.Load() != a {
		t.Errorf("after the reload: origin A %d more requests, B %d; want 0 and 1", hitsA.Load()-a, hitsB.Load())
	}
	d.stop(t, syscall.SIGTERM)
}

// The daemon tells systemd READY=1 once serving, pings the watchdog,
// brackets a reload with RELOADING=1 and READY=1, and says STOPPING=1.
func TestSdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(want string) string {
		t.Helper()
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					t.Fatalf("socket closed waiting for %q", want)
				}
				if strings.Contains(m, want) {
					return m
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no %q", want)
			}
		}
	}
	d := startDaemonEnv(t, []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=400000"}, "--origin", originURL(t), "--mem", "16MiB")
	if m := next("READY=1"); !strings.Contains(m, "STATUS=serving on "+d.addr) {
		t.Errorf("READY message %q", m)
	}
	d.get(t, "/s/1000/a.m4s", 0, 0)
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	d.cmd.Process.Signal(syscall.SIGHUP)
	if m := next("RELOADING=1"); !regexp.MustCompile(`MONOTONIC_USEC=\d+`).MatchString(m) {
		t.Errorf("RELOADING message %q", m)
	}
	next("READY=1")
	d.cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	<-d.done
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// An abstract socket ("@name") works too, and without NOTIFY_SOCKET the
// notifier does nothing.
func TestNotifierAbstract(t *testing.T) {
	name := fmt.Sprintf("@edgecache-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Skipf("abstract sockets: %v", err)
	}
	defer conn.Close()
	env := map[string]string{"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "42"}
	n := newNotifier(func(k string) string { return env[k] }, 42)
	if n.watchdogEvery() != 5*time.Second {
		t.Errorf("watchdogEvery = %v", n.watchdogEvery())
	}
	if err := n.send("READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if k, err := conn.Read(buf); err != nil || string(buf[:k]) != "READY=1\n" {
		t.Fatalf("read %q, %v", buf[:k], err)
	}
	if n := newNotifier(func(k string) string { return env[k] }, 7); n.watchdogEvery() != 0 {
		t.Error("a watchdog meant for another pid is used")
	}
	none := newNotifier(func(string) string { return "" }, 1)
	if none.enabled() || none.send("READY=1") != nil || none.watchdogEvery() != 0 {
		t.Error("without NOTIFY_SOCKET the notifier does something")
	}
}

// edgecache stats and edgecache purge talk to a running daemon.
func TestStatsPurgeCommands(t *testing.T) {
	d := startDaemon(t, "--origin", originURL(t), "--mem", "16MiB")
	url := d.adminURL(t)
	d.get(t, "/s/200K/a.m4s", 0, 0)
	d.get(t, "/s/200K/a.m4s", 0, 0)
	var out, errb bytes.Buffer
	if code := run([]string{"stats", "--admin", url}, &out, &errb); code != 0 {
		t.Fatalf("stats: %d %s", code, errb.String())
	}
	for _, s := range []string{"requests  ", "hit 1, miss 1", "memory ", "origin "} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("stats output lacks %q:\n%s", s, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"stats", "--admin", strings.TrimPrefix(url, "http://"), "--json"}, &out, &errb); code != 0 {
		t.Fatalf("stats --json: %d %s", code, errb.String())
	}
	var st admin.Stats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.RequestsByCache["hit"] != 1 {
		t.Errorf("stats --json: %v %s", err, out.String())
	}
	out.Reset()
	if code := run([]string{"purge", "--admin", url, "/s/200K/a.m4s"}, &out, &errb); code != 0 {
		t.Fatalf("purge: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "purged 1 objects: 1 chunks (200KiB) from memory") {
		t.Errorf("purge output %q", out.String())
	}
	if cs := d.get(t, "/s/200K/a.m4s", 0, 0); !strings.Contains(cs, "fwd=miss") {
		t.Errorf("after purge: %q, want a miss", cs)
	}
	out.Reset()
	if code := run([]string{"purge", "--admin", url, "--json", "--prefix", "/s/"}, &out, &errb); code != 0 {
		t.Fatalf("purge --prefix: %d %s", code, errb.String())
	}
	var res admin.PurgeResponse
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.Objects != 1 || res.Prefix != "/s/" {
		t.Errorf("purge --prefix --json: %v %s", err, out.String())
	}
	errb.Reset()
	if code := run([]string{"purge", "--admin", url}, &out, &errb); code != 2 {
		t.Errorf("purge without a path: %d", code)
	}
}

// The sample config of deploy/ passes "edgecache config check"; a
// non-loopback admin address without a token file is refused.
func TestDeployConfig(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"config", "check", "../../deploy/config.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("config check deploy/config.yaml: %d %s", code, errb.String())
	}
	cfg, err := config.Load("../../deploy/config.yaml")
	if err != nil || cfg.Admin.Listen != "127.0.0.1:9090" || cfg.Log.Access == "" {
		t.Fatalf("deploy/config.yaml: %v", err)
	}
	errb.Reset()
	if code := run([]string{"serve", "--origin", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), `admin.listen: "0.0.0.0:0" is not a loopback address: set admin.token_file`) {
		t.Errorf("serve --admin 0.0.0.0:0 without a token: %d %q", code, errb.String())
	}
}

// within reports whether its call returned in time, and leaves one that
// does not (a close waiting on a disk that hangs) behind instead of
// waiting for it: the shutdown's bound on the disk tier.
func TestWithin(t *testing.T) {
	if !within(time.Minute, func() {}) {
		t.Error("a call that returns at once did not finish within a minute")
	}
	hang := make(chan struct{})
	defer close(hang)
	if within(50*time.Millisecond, func() { <-hang }) {
		t.Error("a call that never returns finished")
	}
}

// Reloads while players stream: SIGHUP, ten times, alternates the origin
// between two (with the same bytes) and changes live limits and freshness
// while eight clients read random ranges of cold and warm objects through
// a disk tier. No answer fails, every byte is the origin's, both origins
// are used, and the daemon stops cleanly.
func TestReloadUnderLoad(t *testing.T) {
	dir := t.TempDir()
	cacheDir := filepath.Join(dir, "cache")
	if err := os.Mkdir(cacheDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config.yaml")
	tsA, hitsA := syntheticOrigin(t)
	tsB, hitsB := syntheticOrigin(t)
	write := func(i int) {
		t.Helper()
		url, ttl := tsA.URL, "1h"
		if i%2 == 1 {
			url, ttl = tsB.URL, "1s"
		}
		s := fmt.Sprintf("origin: {url: %s}\ncache: {memory: 16MiB, ttl_overrides: [{prefix: /s/, ttl: %s}], disks: [{path: %s, size: 256MiB}], disk_state_file: %s}\nserver: {max_ranges: %d}\n",
			url, ttl, cacheDir, filepath.Join(dir, "disks.state"), 4+i%2*4)
		if err := os.WriteFile(cfgFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	d := startDaemon(t, "--config", cfgFile)
	d.waitReady(t)
	stop := make(chan struct{})
	errs := make(chan error, 8)
	var served atomic.Int64
	var wg sync.WaitGroup
	for c := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(c), 3))
			client := &http.Client{Timeout: 30 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				size := int64(1+rnd.IntN(4)) << 20
				path := fmt.Sprintf("/s/%d/reload-%d.m4s", size, rnd.IntN(24))
				off := rnd.Int64N(size)
				n := min(1+rnd.Int64N(600_000), size-off)
				req, _ := http.NewRequest("GET", "http://"+d.addr+path, nil)
				req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
				resp, err := client.Do(req)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", path, err)
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := make([]byte, n)
				origin.FillContent(path, off, want)
				if err != nil || resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, want) {
					errs <- fmt.Errorf("%s bytes %d-%d: status %d, %d bytes, err %v, equal %v", path, off, off+n-1, resp.StatusCode, len(body), err, bytes.Equal(body, want))
					return
				}
				served.Add(1)
			}
		}()
	}
	for i := 1; i <= 10; i++ {
		time.Sleep(150 * time.Millisecond)
		write(i)
		d.cmd.Process.Signal(syscall.SIGHUP)
		for j := 0; d.count(`msg="configuration reloaded"`) < i; j++ {
			if j > 1000 {
				t.Fatalf("reload %d not logged:\n%s", i, d.logText())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d answers checked; origin A %d requests, B %d", served.Load(), hitsA.Load(), hitsB.Load())
	if hitsA.Load() == 0 || hitsB.Load() == 0 || served.Load() < 50 {
		t.Errorf("origin A %d requests, B %d, %d answers: the test did not test reloads under load", hitsA.Load(), hitsB.Load(), served.Load())
	}
	d.stop(t, syscall.SIGTERM)
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// count returns how many lines the daemon has logged that contain s.
func (d *daemon) count(s string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, l := range d.log {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}
