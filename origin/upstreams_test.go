package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultyServer starts a Faulty upstream in front of syn on a kernel-picked
// loopback port.
func faultyServer(t *testing.T, syn *Synthetic) (*Faulty, string) {
	t.Helper()
	f := NewFaulty(syn)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// deadURL returns the URL of a loopback port nothing listens on: a
// connection to it is refused, which counts against an upstream.
func deadURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

// newPool returns Upstreams over urls, each with opt, and closes it at the
// test's end.
func newPool(t *testing.T, opt PoolOptions, up UpstreamOptions, urls ...string) *Upstreams {
	t.Helper()
	var ups []UpstreamOptions
	for i, u := range urls {
		o := up
		o.URL, o.Name = u, fmt.Sprintf("u%d", i+1)
		ups = append(ups, o)
	}
	if opt.Logger == nil {
		opt.Logger = quietLog()
	}
	p, err := NewUpstreams(ups, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// fetchBytes fetches [off, off+n) of path and checks the bytes against the
// synthetic content.
func fetchBytes(t *testing.T, p *Upstreams, path string, off, n int64) error {
	t.Helper()
	r, err := p.Fetch(context.Background(), path, off, n, nil)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	got, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	want := make([]byte, n)
	FillContent(path, off, want)
	if !bytes.Equal(got, want) {
		return fmt.Errorf("bytes differ from the origin's")
	}
	return nil
}

func TestUpstreamsFailover(t *testing.T) {
	tests := []struct {
		fault Fault
	}{{FaultNone}, {FaultStatus}, {FaultDead}, {FaultSlow}, {FaultWrongLength}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.fault), func(t *testing.T) {
			syn := NewSynthetic(SyntheticOptions{})
			bad, badURL := faultyServer(t, syn)
			good, goodURL := faultyServer(t, syn)
			bad.SetFault(tt.fault)
			p := newPool(t, PoolOptions{Backoff: time.Millisecond},
				UpstreamOptions{Client: Options{FirstByteTimeout: 200 * time.Millisecond}}, badURL, goodURL)
			if err := fetchBytes(t, p, "/s/100000/a", 1000, 5000); err != nil {
				t.Fatal(err)
			}
			wantGood := int64(1)
			if tt.fault == FaultNone {
				wantGood = 0
			}
			if bad.Requests() != 1 || good.Requests() != wantGood {
				t.Errorf("requests: first %d, second %d; want 1, %d", bad.Requests(), good.Requests(), wantGood)
			}
			st := p.Stats()
			// An answer, a connection closed without one and an answer
			// that does not fit the request fail over but are about the
			// request; a timeout is the upstream's failure.
			wantFailures := int64(0)
			if tt.fault == FaultSlow {
				wantFailures = 1
			}
			if tt.fault != FaultNone && (st[0].Failures != wantFailures || st[0].Failovers != 1) {
				t.Errorf("first upstream stats %+v: want %d failure, 1 failover", st[0], wantFailures)
			}
		})
	}
}

func TestUpstreamsAnswersAreNotFailures(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	first, u1 := faultyServer(t, syn)
	second, u2 := faultyServer(t, syn)
	p := newPool(t, PoolOptions{}, UpstreamOptions{Breaker: BreakerOptions{Failures: 1}}, u1, u2)
	for _, path := range []string{"/gone/x", "/nothing"} {
		_, err := p.Fetch(context.Background(), path, 0, 100, nil)
		var se *StatusError
		if !errors.As(err, &se) || (se.Code != 410 && se.Code != 404) {
			t.Fatalf("%s: err %v, want the origin's status answer", path, err)
		}
	}
	// A 304 to a conditional fetch is an answer too.
	h := http.Header{"If-None-Match": {SyntheticETag("/s/1000/x", 1000)}}
	_, err := p.Fetch(context.Background(), "/s/1000/x", 0, 100, h)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusNotModified {
		t.Fatalf("conditional fetch: %v, want a 304 StatusError", err)
	}
	if second.Requests() != 0 || first.Requests() != 2 || p.Stats()[0].Breaker.State != BreakerClosed {
		t.Errorf("status answers moved on or opened the breaker: stats %+v", p.Stats()[0])
	}
}

func TestUpstreamsBreakerOpensAndCloses(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	bad, u1 := faultyServer(t, syn)
	good, u2 := faultyServer(t, syn)
	clk := newFakeClock()
	p := newPool(t, PoolOptions{Backoff: -1, Now: clk.Now},
		UpstreamOptions{Breaker: BreakerOptions{Failures: 2, CoolDown: 30 * time.Second},
			Client: Options{FirstByteTimeout: 100 * time.Millisecond}}, u1, u2)
	bad.SetFault(FaultSlow) // each request times out
	for i := range 5 {
		if err := fetchBytes(t, p, "/s/1000/a", 0, 1000); err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
	}
	if bad.Requests() != 2 || good.Requests() != 5 {
		t.Fatalf("requests %d, %d: want the breaker to stop traffic after 2 failures", bad.Requests(), good.Requests())
	}
	if s := p.Stats()[0].Breaker; s.State != BreakerOpen || s.Opens != 1 {
		t.Fatalf("breaker %+v, want open once", s)
	}
	bad.SetFault(FaultNone)
	clk.Add(30 * time.Second) // the cool-down ends: the next fetch probes
	if err := fetchBytes(t, p, "/s/1000/a", 0, 1000); err != nil {
		t.Fatal(err)
	}
	if s := p.Stats()[0].Breaker; s.State != BreakerClosed || s.Closes != 1 || bad.Requests() != 3 {
		t.Fatalf("breaker %+v after a good probe (%d requests), want closed", s, bad.Requests())
	}
}

func TestUpstreamsAllOpenFailsFast(t *testing.T) {
	u1 := deadURL(t)
	clk := newFakeClock()
	p := newPool(t, PoolOptions{Now: clk.Now}, UpstreamOptions{Breaker: BreakerOptions{Failures: 1, CoolDown: 7 * time.Second}}, u1)
	_, err := p.Fetch(context.Background(), "/s/1000/a", 0, 10, nil)
	if err == nil || errors.Is(err, ErrAllOpen) {
		t.Fatalf("first fetch: %v, want the connection error", err)
	}
	_, err = p.Fetch(context.Background(), "/s/1000/a", 0, 10, nil)
	var ue *UnavailableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrAllOpen) || ue.RetryAfter != 7*time.Second {
		t.Fatalf("second fetch: %v, want an UnavailableError wrapping ErrAllOpen with RetryAfter 7s", err)
	}
	if s := p.Stats()[0]; s.Requests != 1 || s.Breaker.Rejected != 1 {
		t.Errorf("an open breaker let a request through: %+v", s)
	}
}

func TestUpstreamsVia(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	f, u := faultyServer(t, syn)
	p := newPool(t, PoolOptions{Via: "box-a"}, UpstreamOptions{}, u)
	tests := []struct {
		h    http.Header
		want string
	}{
		{nil, "1.1 box-a"},
		{http.Header{"Via": {"1.1 player-proxy"}}, "1.1 player-proxy, 1.1 box-a"},
	}
	for _, tt := range tests {
		var before []string
		if tt.h != nil {
			before = append(before, tt.h["Via"]...)
		}
		r, err := p.Fetch(context.Background(), "/s/100/a", 0, 10, tt.h)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if got := f.LastVia(); got != tt.want {
			t.Errorf("Via %q, want %q", got, tt.want)
		}
		if tt.h != nil && fmt.Sprint(tt.h["Via"]) != fmt.Sprint(before) {
			t.Errorf("Fetch modified the caller's header: %q", tt.h["Via"])
		}
	}
}

func TestUpstreamsLoopDetectedMovesOn(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	var loops int
	var mu sync.Mutex
	looping := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		loops++
		mu.Unlock()
		http.Error(w, "loop detected", http.StatusLoopDetected)
	}))
	defer looping.Close()
	good, u2 := faultyServer(t, syn)
	clk := newFakeClock()
	p := newPool(t, PoolOptions{Now: clk.Now, Backoff: -1}, UpstreamOptions{Breaker: BreakerOptions{CoolDown: time.Minute}}, looping.URL, u2)
	for range 3 {
		if err := fetchBytes(t, p, "/s/1000/a", 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	if loops != 1 || good.Requests() != 3 {
		t.Errorf("looping upstream asked %d times, good one %d; want 1 and 3", loops, good.Requests())
	}
	if s := p.Stats()[0]; s.Loops != 1 || s.Breaker.State != BreakerClosed {
		t.Errorf("stats %+v: want 1 loop and the breaker closed", s)
	}
	// With only the looping upstream, the answer is its 508.
	p1 := newPool(t, PoolOptions{}, UpstreamOptions{}, looping.URL)
	_, err := p1.Fetch(context.Background(), "/s/1000/a", 0, 100, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Code != http.StatusLoopDetected {
		t.Fatalf("err %v, want a 508 StatusError", err)
	}
}

// TestUpstreamsInFlightLimit: 1,000 concurrent misses on distinct objects
// never have more than MaxInFlight requests at the origin at once.
func TestUpstreamsInFlightLimit(t *testing.T) {
	const limit, misses = 8, 1000
	syn := NewSynthetic(SyntheticOptions{Delay: time.Millisecond})
	_, u := faultyServer(t, syn)
	p := newPool(t, PoolOptions{}, UpstreamOptions{MaxInFlight: limit, QueueLength: misses,
		QueueWait: time.Minute, Client: Options{MaxConnsPerHost: limit}}, u)
	var wg sync.WaitGroup
	errs := make(chan error, misses)
	for i := range misses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fetchBytes(t, p, fmt.Sprintf("/s/2000/obj-%d", i), 0, 2000); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, s := syn.Stats(), p.Stats()[0]
	t.Logf("origin: %d requests, max in flight %d; pool: max in flight %d, waited %d", st.Requests, st.MaxInflight, s.MaxInFlight, s.QueueWaits)
	if st.Requests != misses || st.MaxInflight > limit || s.MaxInFlight > limit {
		t.Errorf("origin saw %d requests, %d at once (pool %d); want %d, at most %d", st.Requests, st.MaxInflight, s.MaxInFlight, misses, limit)
	}
}

func TestUpstreamsOverloaded(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	f, u := faultyServer(t, syn)
	f.Delay = 300 * time.Millisecond
	f.SetFault(FaultSlow)
	p := newPool(t, PoolOptions{}, UpstreamOptions{MaxInFlight: 1, QueueLength: 1, QueueWait: time.Minute}, u)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var overloaded, ok int
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fetchBytes(t, p, fmt.Sprintf("/s/100/o%d", i), 0, 100)
			mu.Lock()
			defer mu.Unlock()
			var ue *UnavailableError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ue) && errors.Is(err, ErrOverloaded) && ue.RetryAfter >= time.Second:
				overloaded++
			default:
				t.Errorf("unexpected error %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 2 || overloaded != 2 {
		t.Errorf("%d served, %d overloaded; want 2 and 2 (one in flight, one queued)", ok, overloaded)
	}
	if s := p.Stats()[0]; s.Overloaded != 2 || s.Breaker.Failures != 0 {
		t.Errorf("stats %+v: overload must not count as an upstream failure", s)
	}
}

// A body cut short releases the in-flight slot but, like a connection
// closed without an answer, is about the request: the breaker stays
// closed. A connection refused is the upstream's failure.
func TestUpstreamsBodyAndConnectionFailures(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	f, u := faultyServer(t, syn)
	p := newPool(t, PoolOptions{}, UpstreamOptions{Breaker: BreakerOptions{Failures: 1}}, u)
	f.SetFault(FaultShortBody)
	if err := fetchBytes(t, p, "/s/100000/a", 0, 100000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want a short body", err)
	}
	f.SetFault(FaultDead)
	if _, err := p.Fetch(context.Background(), "/s/100000/b", 0, 100, nil); err == nil {
		t.Fatal("a connection closed without an answer gave no error")
	}
	if s := p.Stats()[0]; s.Breaker.State != BreakerClosed || s.InFlight != 0 {
		t.Errorf("stats %+v: want the breaker closed and the slot released", s)
	}
	f.SetFault(FaultNone)
	if err := fetchBytes(t, p, "/s/100000/c", 0, 100000); err != nil {
		t.Fatal(err)
	}

	p2 := newPool(t, PoolOptions{}, UpstreamOptions{Breaker: BreakerOptions{Failures: 1}}, deadURL(t))
	if _, err := p2.Fetch(context.Background(), "/s/100000/a", 0, 100, nil); err == nil {
		t.Fatal("a refused connection gave no error")
	}
	if s := p2.Stats()[0]; s.Breaker.State != BreakerOpen {
		t.Errorf("stats %+v after a refused connection: want the breaker open", s)
	}
}

func TestUpstreamsDeadline(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	f1, u1 := faultyServer(t, syn)
	f2, u2 := faultyServer(t, syn)
	f1.SetFault(FaultSlow)
	f2.SetFault(FaultSlow)
	p := newPool(t, PoolOptions{Deadline: 300 * time.Millisecond}, UpstreamOptions{}, u1, u2)
	_, err := p.Fetch(context.Background(), "/s/100/a", 0, 10, nil)
	var te *TimeoutError
	if !errors.As(err, &te) || te.Phase != PhaseDeadline {
		t.Fatalf("err %v, want a request-deadline TimeoutError", err)
	}
	if f2.Requests() != 0 {
		t.Errorf("the second upstream was asked after the deadline")
	}
}

func TestUpstreamsHealthProbes(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	f, u := faultyServer(t, syn)
	f.SetFault(FaultStatus)
	p := newPool(t, PoolOptions{}, UpstreamOptions{HealthPath: "/s/1/health", HealthInterval: 10 * time.Millisecond,
		Breaker: BreakerOptions{Failures: 2, CoolDown: 50 * time.Millisecond}}, u)
	waitFor := func(what string, cond func(UpstreamStats) bool) {
		t.Helper()
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if cond(p.Stats()[0]) {
				return
			}
		}
		t.Fatalf("%s: stats %+v", what, p.Stats()[0])
	}
	waitFor("probes open the breaker", func(s UpstreamStats) bool { return s.Breaker.Opens > 0 && s.HealthFailures >= 2 })
	f.SetFault(FaultNone)
	waitFor("a probe closes it", func(s UpstreamStats) bool { return s.Breaker.State == BreakerClosed && s.Breaker.Closes > 0 })
}

// A 500, 502, 503 or 504 answer is passed on (or fails over to the next
// upstream) but does not count against the upstream's breaker: any client
// can provoke one by asking for a path that fails, and five of them would
// otherwise open the breaker for every client.
func TestUpstreamsStatus5xxIsNotAFailure(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	for _, code := range []int{500, 502, 503, 504} {
		prefix := fmt.Sprintf("/e%d/", code)
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, prefix) {
				http.Error(w, "application error", code)
				return
			}
			syn.ServeHTTP(w, r)
		}))
		t.Cleanup(app.Close)
		p := newPool(t, PoolOptions{Backoff: -1}, UpstreamOptions{Breaker: BreakerOptions{Failures: 1}}, app.URL)
		for i := range 5 {
			_, err := p.Fetch(context.Background(), fmt.Sprintf("%sx?n=%d", prefix, i), 0, 100, nil)
			var se *StatusError
			if !errors.As(err, &se) || se.Code != code {
				t.Fatalf("%d: fetch %d: %v, want the %d passed on", code, i, err, code)
			}
		}
		if s := p.Stats()[0].Breaker; s.State != BreakerClosed || s.Opens != 0 {
			t.Fatalf("breaker %+v after %d answers, want closed", s, code)
		}
		if err := fetchBytes(t, p, "/s/1000/a", 0, 1000); err != nil {
			t.Fatal(err)
		}

		// With a next upstream, the answer moves on to it.
		broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "application error", code)
		}))
		t.Cleanup(broken.Close)
		good, u2 := faultyServer(t, syn)
		p2 := newPool(t, PoolOptions{Backoff: -1}, UpstreamOptions{Breaker: BreakerOptions{Failures: 1}}, broken.URL, u2)
		for range 3 {
			if err := fetchBytes(t, p2, "/s/1000/b", 0, 1000); err != nil {
				t.Fatal(err)
			}
		}
		if s := p2.Stats()[0].Breaker; s.State != BreakerClosed || good.Requests() != 3 {
			t.Fatalf("%d: breaker %+v, %d requests to the next upstream: want closed, 3", code, s, good.Requests())
		}
	}
}

// What counts against an upstream's breaker.
func TestJudge(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		ok   bool
	}{
		{"404", &StatusError{Code: 404}, true},
		{"500", &StatusError{Code: 500}, true},
		{"502", &StatusError{Code: 502}, true},
		{"503", &StatusError{Code: 503}, true},
		{"504", &StatusError{Code: 504}, true},
		{"refused", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false},
		{"no such host", &net.DNSError{Err: "no such host", Name: "origin.invalid", IsNotFound: true}, false},
		{"timeout", &TimeoutError{Phase: PhaseDeadline}, false},
		{"first byte timeout", &TimeoutError{Phase: PhaseFirstByte}, false},
		{"closed without an answer", fmt.Errorf("origin /a: %w", io.EOF), true},
		{"reset after the request", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"inconsistent answer", fmt.Errorf("origin /a: %w", ErrInconsistent), true},
		{"no descriptor to dial with", &net.OpError{Op: "dial", Err: os.NewSyscallError("socket", syscall.EMFILE)}, true},
		{"system file table full", &net.OpError{Op: "dial", Err: os.NewSyscallError("socket", syscall.ENFILE)}, true},
	} {
		if ok, why := judge(tc.err); ok != tc.ok {
			t.Errorf("%s: judge = %v (%q), want %v", tc.name, ok, why, tc.ok)
		}
	}
}

// A 508 to a request that brought Via entries of its own (a client can
// forge one naming an upstream) moves that request on but does not keep
// every later request off the upstream.
func TestUpstreamsForgedViaLoop(t *testing.T) {
	syn := NewSynthetic(SyntheticOptions{})
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, v := range r.Header.Values("Via") {
			if strings.Contains(v, "parent") {
				http.Error(w, "loop detected", http.StatusLoopDetected)
				return
			}
		}
		syn.ServeHTTP(w, r)
	}))
	defer parent.Close()
	good, u2 := faultyServer(t, syn)
	p := newPool(t, PoolOptions{Backoff: -1, Via: "child"}, UpstreamOptions{Breaker: BreakerOptions{CoolDown: time.Minute}}, parent.URL, u2)
	r, err := p.Fetch(context.Background(), "/s/1000/a", 0, 100, http.Header{"Via": {"1.1 parent"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if good.Requests() != 1 {
		t.Fatalf("the forged request went to the next upstream %d times, want 1", good.Requests())
	}
	for range 3 {
		if err := fetchBytes(t, p, "/s/1000/b", 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	if good.Requests() != 1 {
		t.Errorf("later requests went to the next upstream %d times: the parent was skipped for everyone", good.Requests()-1)
	}
}
