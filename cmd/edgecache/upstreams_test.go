package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"edgecache/origin"
)

// nameConfig writes a config file naming the box (server.name) and
// returns its path.
func nameConfig(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(p, []byte("server:\n  name: "+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// fetchAll GETs path from the daemon at addr and returns the answer and
// its body.
func fetchAll(t *testing.T, addr, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp, body
}

// checkSame checks an answer of the cache against the origin's own: same
// status, bytes, ETag and Last-Modified.
func checkSame(t *testing.T, who, cacheAddr, originURL, path string) {
	t.Helper()
	resp, body := fetchAll(t, cacheAddr, path)
	oresp, err := http.Get(originURL + path)
	if err != nil {
		t.Fatal(err)
	}
	obody, _ := io.ReadAll(oresp.Body)
	oresp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, obody) {
		t.Fatalf("%s %s: status %d, %d bytes; want the origin's %d bytes", who, path, resp.StatusCode, len(body), len(obody))
	}
	for _, f := range []string{"ETag", "Last-Modified"} {
		if resp.Header.Get(f) != oresp.Header.Get(f) {
			t.Errorf("%s %s: %s %q, origin's %q", who, path, f, resp.Header.Get(f), oresp.Header.Get(f))
		}
	}
}

// Two daemons, one the other's upstream: the child gets the origin's bytes
// and validators through its parent, and from the origin when the parent
// dies.
func TestTwoDaemonsParentAndChild(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	f := origin.NewFaulty(syn)
	ts := httptest.NewServer(f)
	defer ts.Close()
	direct := httptest.NewServer(syn) // what the test compares with: not counted by f
	defer direct.Close()
	parent := startDaemon(t, "--config", nameConfig(t, "parent"), "--origin", ts.URL)
	child := startDaemon(t, "--config", nameConfig(t, "child"),
		"--origin", "http://"+parent.addr, "--origin", ts.URL)

	for _, p := range []string{"/s/3000000/big", "/v/title/seg1.m4s", "/s/10/small"} {
		checkSame(t, "child", child.addr, direct.URL, p)
		// A first fetch carries the client's Via (the child's); later
		// chunks are the parent's own fetches.
		if via := f.LastVia(); via != "1.1 child, 1.1 parent" && via != "1.1 parent" {
			t.Errorf("%s: origin saw Via %q, want it to come through the parent", p, via)
		}
	}
	resp, _ := fetchAll(t, child.addr, "/gone/x")
	if resp.StatusCode != http.StatusGone {
		t.Errorf("/gone/x: status %d, want the origin's 410", resp.StatusCode)
	}
	before := f.Requests()
	checkSame(t, "child again", child.addr, direct.URL, "/s/3000000/big") // a hit
	if f.Requests() != before {
		t.Errorf("a hit asked the origin")
	}

	parent.cmd.Process.Kill()
	<-parent.done
	checkSame(t, "child without its parent", child.addr, direct.URL, "/s/2000000/after")
	if via := f.LastVia(); via != "1.1 child" {
		t.Errorf("origin saw Via %q, want the child's alone", via)
	}
}

// Two daemons that list each other as upstream (a configuration loop):
// the loop is detected (508), and both still serve the origin's bytes.
func TestTwoDaemonsLoop(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	ts := httptest.NewServer(syn)
	defer ts.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bAddr := ln.Addr().String()
	ln.Close() // b listens here; a must know it first
	a := startDaemon(t, "--config", nameConfig(t, "box-a"), "--origin", "http://"+bAddr, "--origin", ts.URL)
	b := startDaemon(t, "--config", nameConfig(t, "box-b"), "--listen", bAddr, "--origin", "http://"+a.addr, "--origin", ts.URL)
	if b.addr != bAddr {
		t.Fatalf("b listens on %s, want %s", b.addr, bAddr)
	}
	for i, d := range []*daemon{a, b, a} {
		checkSame(t, fmt.Sprint("daemon ", i), d.addr, ts.URL, fmt.Sprintf("/s/2500000/loop-%d", i))
	}
	if !a.logged("request loop detected") && !b.logged("request loop detected") {
		t.Error("neither daemon logged the loop")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.addr+"/s/10/x", nil)
	req.Header.Set("Via", "1.1 box-a")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != http.StatusLoopDetected || !strings.Contains(string(msg), "loop detected") {
		t.Errorf("a request naming the box: status %d %q, want 508 with the reason", r.StatusCode, msg)
	}
}
