package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The origin's 103 (Early Hints) answers are passed on, as one 103 with
// their Link fields, to the request whose miss asked the origin (RFC 9110
// §15.2), never stored or sent with a hit (the cache-tests suite's
// interim-not-cached), and never sent where the connection's previous
// answer may still wait in the write buffer (pipelined requests), which
// the 103 would overtake.
func TestEarlyHints(t *testing.T) {
	const link = "</style.css>; rel=preload; as=style"
	var h *harness
	h = newHarness(t, harnessOptions{originHandle: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "hint") {
			w.Header().Set("Link", link)
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
		}
		h.syn.ServeHTTP(w, r)
	})})
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	// answers sends reqs in one write and returns the statuses of the
	// answers read until len(reqs) final ones, checking each body.
	answers := func(reqs ...string) (statuses []int, links []string) {
		t.Helper()
		var raw string
		for _, p := range reqs {
			raw += "GET " + p + " HTTP/1.1\r\nHost: x\r\n\r\n"
		}
		if _, err := io.WriteString(c, raw); err != nil {
			t.Fatal(err)
		}
		for finals := 0; finals < len(reqs); {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%v: %v after %v", reqs, err, statuses)
			}
			statuses = append(statuses, resp.StatusCode)
			if resp.StatusCode == http.StatusEarlyHints {
				links = append(links, resp.Header.Values("Link")...)
				continue
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Equal(body, originBytes(reqs[finals], 0, 1000)) {
				t.Fatalf("%s: %d, %d bytes, %v; want the origin's", reqs[finals], resp.StatusCode, len(body), err)
			}
			if v := resp.Header.Values("Link"); len(v) != 0 {
				t.Errorf("%s: Link %q on the final answer", reqs[finals], v)
			}
			finals++
		}
		return statuses, links
	}
	for _, step := range []struct {
		reqs  []string
		want  string
		links int
	}{
		{[]string{"/s/1000/hint-a"}, "[103 200]", 1},                       // a miss: the origin's hints first
		{[]string{"/s/1000/hint-b"}, "[103 200]", 1},                       // the next request on the connection too
		{[]string{"/s/1000/hint-a"}, "[200]", 0},                           // a hit: none
		{[]string{"/s/1000/hint-c", "/s/1000/hint-d"}, "[103 200 200]", 1}, // pipelined: none for the second
		{[]string{"/s/1000/plain"}, "[200]", 0},                            // no hints from the origin
	} {
		statuses, links := answers(step.reqs...)
		if got := fmt.Sprint(statuses); got != step.want {
			t.Errorf("%v: answers %v, want %s", step.reqs, statuses, step.want)
		}
		if len(links) != step.links || step.links > 0 && links[0] != link {
			t.Errorf("%v: 103 Link %q", step.reqs, links)
		}
	}
}
