package origin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// newSynthServer starts a Synthetic origin on 127.0.0.1.
func newSynthServer(t *testing.T, opt SyntheticOptions) (*Synthetic, *httptest.Server) {
	t.Helper()
	s := NewSynthetic(opt)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// do sends a request with the given headers and returns the response and
// its full body.
func do(t *testing.T, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestSyntheticFullObject(t *testing.T) {
	_, srv := newSynthServer(t, SyntheticOptions{})
	const path = "/v/title/7.m4s"
	resp, body := do(t, "GET", srv.URL+path)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if len(body) != DefaultSyntheticSize || !bytes.Equal(body, refBytes(path, 0, len(body))) {
		t.Fatalf("body: %d bytes or content differs", len(body))
	}
	for k, want := range map[string]string{
		"ETag":           SyntheticETag(path, DefaultSyntheticSize),
		"Last-Modified":  "Mon, 01 Jan 2024 00:00:00 GMT",
		"Cache-Control":  "public, max-age=86400",
		"Accept-Ranges":  "bytes",
		"Content-Type":   "video/iso.segment",
		"Content-Length": strconv.Itoa(DefaultSyntheticSize),
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	resp, _ = do(t, "GET", srv.URL+"/s/100/blob?x=1")
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if et := resp.Header.Get("ETag"); et != SyntheticETag("/s/100/blob", 100) {
		t.Errorf("query must not change the content: ETag %s", et)
	}
}

func TestSyntheticOptions(t *testing.T) {
	mt := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	s, srv := newSynthServer(t, SyntheticOptions{DefaultSize: 1000, ModTime: mt, MaxAge: time.Minute})
	resp, body := do(t, "GET", srv.URL+"/v/a/b.m4s")
	if len(body) != 1000 {
		t.Fatalf("size %d", len(body))
	}
	if got := resp.Header.Get("Last-Modified"); got != mt.Format(http.TimeFormat) {
		t.Errorf("Last-Modified %q", got)
	}
	if got := resp.Header.Get("Cache-Control"); got != "public, max-age=60" {
		t.Errorf("Cache-Control %q", got)
	}
	if n, ok := s.SizeOf("/v/a/b.m4s"); !ok || n != 1000 {
		t.Errorf("SizeOf = %d, %v", n, ok)
	}
	if _, ok := s.SizeOf("/gone/x"); ok {
		t.Error("SizeOf(/gone/x) ok")
	}
	if got := NewSynthetic(SyntheticOptions{MaxAge: -time.Second}).cacheControl; got != "public, max-age=0" {
		t.Errorf("negative MaxAge: %q", got)
	}
}

func TestSyntheticStatuses(t *testing.T) {
	_, srv := newSynthServer(t, SyntheticOptions{})
	const path = "/s/10000/obj"
	etag := SyntheticETag(path, 10000)
	want := refBytes(path, 0, 10000)
	for _, tc := range []struct {
		name         string
		method       string
		path         string
		hdr          []string
		status       int
		contentRange string
		body         []byte // nil: not checked
	}{
		{"full", "GET", path, nil, 200, "", want},
		{"range", "GET", path, []string{"Range", "bytes=10-19"}, 206, "bytes 10-19/10000", want[10:20]},
		{"open range", "GET", path, []string{"Range", "bytes=9990-"}, 206, "bytes 9990-9999/10000", want[9990:]},
		{"suffix range", "GET", path, []string{"Range", "bytes=-5"}, 206, "bytes 9995-9999/10000", want[9995:]},
		{"range past end clipped", "GET", path, []string{"Range", "bytes=9998-20000"}, 206, "bytes 9998-9999/10000", want[9998:]},
		{"unsatisfiable", "GET", path, []string{"Range", "bytes=10000-10010"}, 416, "bytes */10000", nil},
		{"if-none-match", "GET", path, []string{"If-None-Match", etag}, 304, "", []byte{}},
		{"if-none-match other", "GET", path, []string{"If-None-Match", `"nope"`}, 200, "", want},
		{"if-modified-since", "GET", path, []string{"If-Modified-Since", "Tue, 02 Jan 2024 00:00:00 GMT"}, 304, "", []byte{}},
		{"if-range match", "GET", path, []string{"Range", "bytes=0-0", "If-Range", etag}, 206, "bytes 0-0/10000", want[:1]},
		{"if-range mismatch", "GET", path, []string{"Range", "bytes=0-0", "If-Range", `"old"`}, 200, "", want},
		{"head", "HEAD", path, nil, 200, "", []byte{}},
		{"head range", "HEAD", path, []string{"Range", "bytes=0-99"}, 206, "bytes 0-99/10000", []byte{}},
		{"gone", "GET", "/gone/anything", nil, 410, "", []byte("gone\n")},
		{"not found", "GET", "/nope", nil, 404, "", nil},
		{"bad size", "GET", "/s/12X/a", nil, 404, "", nil},
		{"post", "POST", path, nil, 405, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, srv.URL+tc.path, tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Content-Range"); got != tc.contentRange {
				t.Errorf("Content-Range %q, want %q", got, tc.contentRange)
			}
			if tc.body != nil && !bytes.Equal(body, tc.body) {
				t.Errorf("body differs (%d bytes, want %d)", len(body), len(tc.body))
			}
			if tc.status == 416 && (resp.Header.Get("ETag") != etag || resp.Header.Get("Last-Modified") == "" ||
				resp.Header.Get("Cache-Control") == "") {
				t.Errorf("416 lacks validators (as the reference origin sends): %v", resp.Header)
			}
			if tc.method == "HEAD" && tc.status == 200 && resp.ContentLength != 10000 {
				t.Errorf("HEAD Content-Length %d", resp.ContentLength)
			}
		})
	}
}

func TestSyntheticMultiRange(t *testing.T) {
	_, srv := newSynthServer(t, SyntheticOptions{})
	const path = "/s/1K/m"
	want := refBytes(path, 0, 1024)
	resp, body := do(t, "GET", srv.URL+path, "Range", "bytes=0-9,100-109")
	if resp.StatusCode != 206 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, r := range [][2]int{{0, 10}, {100, 110}} {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		if !bytes.Equal(b, want[r[0]:r[1]]) {
			t.Errorf("part %v differs", r)
		}
	}
}

func TestSyntheticHugeObject(t *testing.T) {
	_, srv := newSynthServer(t, SyntheticOptions{})
	const path = "/s/4G/big"
	resp, _ := do(t, "HEAD", srv.URL+path)
	if resp.ContentLength != 4<<30 {
		t.Fatalf("Content-Length %d", resp.ContentLength)
	}
	resp, body := do(t, "GET", srv.URL+path, "Range", "bytes=4294967000-")
	if resp.StatusCode != 206 || resp.Header.Get("Content-Range") != "bytes 4294967000-4294967295/4294967296" {
		t.Fatalf("status %d Content-Range %q", resp.StatusCode, resp.Header.Get("Content-Range"))
	}
	if !bytes.Equal(body, refBytes(path, 4294967000, 296)) {
		t.Fatal("tail bytes differ")
	}
	// A full GET streams: read the first MiB and hang up.
	res, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if !bytes.Equal(head, refBytes(path, 0, len(head))) {
		t.Fatal("head bytes differ")
	}
}

func TestSyntheticStats(t *testing.T) {
	s, srv := newSynthServer(t, SyntheticOptions{DefaultSize: 1000})
	do(t, "GET", srv.URL+"/v/a/1.m4s")                                                     // 200, 1000 bytes
	do(t, "GET", srv.URL+"/v/a/1.m4s", "Range", "bytes=0-99")                              // 206, 100 bytes
	do(t, "HEAD", srv.URL+"/v/a/2.m4s")                                                    // 200, 0 bytes
	do(t, "GET", srv.URL+"/v/a/1.m4s", "If-None-Match", SyntheticETag("/v/a/1.m4s", 1000)) // 304
	_, b416 := do(t, "GET", srv.URL+"/v/a/1.m4s", "Range", "bytes=5000-")                  // 416 with an error text
	do(t, "GET", srv.URL+"/gone/x")                                                        // 410, 5 bytes
	do(t, "GET", srv.URL+"/v/a/3.m4s", "X-Origin-No-Count", "1")                           // not counted
	do(t, "GET", srv.URL+"/nope")                                                          // 404, not counted

	st := s.Stats()
	want := Stats{
		Requests: 6, Bytes: 1105 + int64(len(b416)), Get: 5, Head: 1, Range: 2,
		Status200: 2, Status206: 1, Status304: 1, StatusOther: 2,
		Distinct: 3, Since: st.Since,
	}
	if st.Paths != nil || st.MaxInflight < 1 {
		t.Errorf("Paths %v MaxInflight %d", st.Paths, st.MaxInflight)
	}
	st.MaxInflight = 0
	if st.Since.IsZero() || st.Since.Location() != time.UTC {
		t.Errorf("Since %v", st.Since)
	}
	if !statsEqual(st, want) {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
	if pc := s.PathCounts(); pc["/v/a/1.m4s"] != 4 || pc["/v/a/2.m4s"] != 1 || pc["/gone/x"] != 1 || len(pc) != 3 {
		t.Errorf("PathCounts %v", pc)
	}

	// JSON document: the reference keys, "paths" only when asked.
	_, body := do(t, "GET", srv.URL+"/_stats")
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	keys := []string{"requests", "bytes", "get", "head", "range", "status_200", "status_206",
		"status_304", "status_other", "inflight", "max_inflight", "distinct", "since"}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("/_stats lacks %q", k)
		}
	}
	if len(m) != len(keys) {
		t.Errorf("/_stats has %d keys: %v", len(m), m)
	}
	if m["bytes"] != float64(want.Bytes) {
		t.Errorf("bytes = %v", m["bytes"])
	}
	if _, err := time.Parse(time.RFC3339Nano, m["since"].(string)); err != nil {
		t.Errorf("since: %v", err)
	}
	_, body = do(t, "GET", srv.URL+"/_stats?paths=1")
	var withPaths struct {
		Requests int64            `json:"requests"`
		Paths    map[string]int64 `json:"paths"`
	}
	if err := json.Unmarshal(body, &withPaths); err != nil {
		t.Fatal(err)
	}
	if withPaths.Paths["/v/a/1.m4s"] != 4 || withPaths.Requests != 6 {
		t.Errorf("paths=1: %s", body)
	}

	// Reset.
	resp, body := do(t, "POST", srv.URL+"/_stats/reset")
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("reset: %d %q", resp.StatusCode, body)
	}
	if st := s.Stats(); st.Requests != 0 || st.Bytes != 0 || st.Distinct != 0 || st.Inflight != 0 {
		t.Errorf("after reset: %+v", st)
	}
	_, body = do(t, "GET", srv.URL+"/_stats?paths=1")
	if !strings.Contains(string(body), `"paths": {}`) {
		t.Errorf("empty paths missing: %s", body)
	}
	do(t, "GET", srv.URL+"/v/a/1.m4s")
	s.ResetStats()
	if st := s.Stats(); st.Requests != 0 {
		t.Errorf("ResetStats: %+v", st)
	}
}

func statsEqual(a, b Stats) bool {
	a.Paths, b.Paths = nil, nil
	return reflect.DeepEqual(a, b)
}

func TestSyntheticDelay(t *testing.T) {
	_, srv := newSynthServer(t, SyntheticOptions{DefaultSize: 10, Delay: 50 * time.Millisecond})
	start := time.Now()
	resp, _ := do(t, "GET", srv.URL+"/v/a/1.m4s")
	if d := time.Since(start); resp.StatusCode != 200 || d < 50*time.Millisecond {
		t.Fatalf("status %d after %v", resp.StatusCode, d)
	}

	// A cancelled request ends the delay early.
	s2, srv2 := newSynthServer(t, SyntheticOptions{Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv2.URL+"/v/a/1.m4s", nil)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("expected error")
	}
	deadline := time.Now().Add(5 * time.Second)
	for s2.Stats().Inflight != 0 {
		if time.Now().After(deadline) {
			t.Fatal("delayed handler did not end after cancellation")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
