package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"edgecache/origin"
)

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigCheck(t *testing.T) {
	good := writeFile(t, "good.yaml", "origin:\n  url: http://127.0.0.1:8081\ncache:\n  memory: 64MiB\n")
	bad := writeFile(t, "bad.yaml", "origin:\n  url: http://127.0.0.1:8081\ncache:\n  memroy: 64MiB\n  chunk_size: 3\n")
	for _, tc := range []struct {
		file     string
		code     int
		out, err string
	}{
		{good, 0, good + ": ok", ""},
		{bad, 1, "", bad + ":4: cache.memroy: "},
		{bad, 1, "", bad + ":5: cache.chunk_size: "},
		{filepath.Join(t.TempDir(), "missing.yaml"), 1, "", "missing.yaml"},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"config", "check", tc.file}, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("config check %s: exit %d, stdout %q, stderr %q; want exit %d, %q, %q",
				filepath.Base(tc.file), code, stdout.String(), stderr.String(), tc.code, tc.out, tc.err)
		}
	}
}

func TestUsageAndVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "edgecache ") {
		t.Fatalf("version: %d %q", code, stdout.String())
	}
	if code := run([]string{"frobnicate"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %q", code, stderr.String())
	}
}

// Flags given on the command line override the file; the rest of the file
// is kept.
func TestServeFlagsOverrideFile(t *testing.T) {
	file := writeFile(t, "c.yaml", "listen: 127.0.0.1:1\norigin:\n  url: http://127.0.0.1:2\ncache:\n  memory: 64MiB\n  negative_ttl: 3s\n")
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f serveFlags
	f.register(fs)
	if err := fs.Parse([]string{"--config", file, "--mem", "128MiB", "--listen", "127.0.0.1:3"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := f.load(fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Cache.Memory != 128<<20 || cfg.Listen != "127.0.0.1:3" || cfg.Origin.URL != "http://127.0.0.1:2" || cfg.Cache.NegativeTTL.D() != 3*time.Second {
		t.Fatalf("merged config: %+v", cfg)
	}
	// A file without origin.url is fine when --origin supplies it.
	file = writeFile(t, "noorigin.yaml", "cache:\n  memory: 64MiB\n")
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = serveFlags{}
	f.register(fs)
	_ = fs.Parse([]string{"--config", file, "--origin", "http://127.0.0.1:4"})
	if _, err := f.load(fs); err != nil {
		t.Fatal(err)
	}
	// A bad flag value is an error naming the flag.
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	f = serveFlags{}
	f.register(fs)
	_ = fs.Parse([]string{"--origin", "http://127.0.0.1:4", "--mem", "lots"})
	if _, err := f.load(fs); err == nil || !strings.Contains(err.Error(), "--mem") {
		t.Fatalf("bad --mem: %v", err)
	}
}

// serve, wired as the binary wires it, answers byte-exact from an origin.
func TestServeEndToEnd(t *testing.T) {
	syn := origin.NewSynthetic(origin.SyntheticOptions{})
	ts := httptest.NewServer(syn)
	defer ts.Close()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	f.register(fs)
	_ = fs.Parse([]string{"--origin", ts.URL, "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--mem", "64MiB"})
	cfg, err := f.load(fs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	addr := <-ready
	const path = "/s/2500000/e2e.m4s"
	want := make([]byte, 2500000)
	origin.FillContent(path, 0, want)
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Header.Set("Range", "bytes=1000-2099999")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 206 || !bytes.Equal(body, want[1000:2100000]) {
			t.Fatalf("request %d: %d, %d bytes, err %v", i, resp.StatusCode, len(body), err)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
}
