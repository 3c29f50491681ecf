package origin

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// step is one thing a breaker test does: report outcomes (o: 'F' failure,
// 'S' success, per character), move the clock, then check the state.
type step struct {
	outcomes string
	advance  time.Duration
	want     BreakerState
}

func TestBreakerTransitions(t *testing.T) {
	tests := []struct {
		name  string
		opt   BreakerOptions
		steps []step
		opens int64
	}{
		{"consecutive failures open", BreakerOptions{Failures: 3, FailureRatio: -1}, []step{
			{"FF", 0, BreakerClosed}, {"S", 0, BreakerClosed}, {"FF", 0, BreakerClosed}, {"F", 0, BreakerOpen},
		}, 1},
		{"ratio in window opens", BreakerOptions{Failures: -1, FailureRatio: 0.5, MinRequests: 4, Window: 10 * time.Second}, []step{
			{"SSF", 0, BreakerClosed}, {"F", 0, BreakerOpen},
		}, 1},
		{"ratio forgets old buckets", BreakerOptions{Failures: -1, FailureRatio: 0.5, MinRequests: 4, Window: 10 * time.Second}, []step{
			{"FFF", 11 * time.Second, BreakerClosed}, {"S", 0, BreakerClosed}, {"F", 0, BreakerClosed},
		}, 0},
		{"cool-down then probe closes", BreakerOptions{Failures: 1, CoolDown: 5 * time.Second}, []step{
			{"F", 4 * time.Second, BreakerOpen}, {"", time.Second, BreakerOpen}, {"S", 0, BreakerClosed},
		}, 1},
		{"failed probe opens again", BreakerOptions{Failures: 1, CoolDown: 5 * time.Second}, []step{
			{"F", 5 * time.Second, BreakerOpen}, {"F", 0, BreakerOpen},
		}, 2},
		{"two probes needed", BreakerOptions{Failures: 1, CoolDown: time.Second, HalfOpenProbes: 2}, []step{
			{"F", time.Second, BreakerOpen}, {"S", 0, BreakerHalfOpen}, {"S", 0, BreakerClosed},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			b := NewBreaker("u", tt.opt, clk.Now, quietLog())
			for i, st := range tt.steps {
				for _, o := range st.outcomes {
					ok, probe := b.Allow()
					if !ok {
						t.Fatalf("step %d: Allow refused in state %v", i, b.State())
					}
					b.Done(probe, o == 'S', "test")
				}
				clk.Add(st.advance)
				if got := b.State(); got != st.want {
					t.Fatalf("step %d: state %v, want %v", i, got, st.want)
				}
			}
			if s := b.Stats(); s.Opens != tt.opens {
				t.Errorf("Opens = %d, want %d", s.Opens, tt.opens)
			}
		})
	}
}

func TestBreakerOpenRefusesAndHalfOpenLimitsProbes(t *testing.T) {
	clk := newFakeClock()
	b := NewBreaker("u", BreakerOptions{Failures: 1, CoolDown: 10 * time.Second}, clk.Now, quietLog())
	_, probe := b.Allow()
	b.Done(probe, false, "dead")
	if ok, _ := b.Allow(); ok {
		t.Fatal("an open breaker let a request through")
	}
	if ri := b.RetryIn(); ri != 10*time.Second {
		t.Errorf("RetryIn = %v, want 10s", ri)
	}
	clk.Add(10 * time.Second)
	ok, probe := b.Allow()
	if !ok || !probe {
		t.Fatalf("after the cool-down: Allow = %v, %v; want a probe", ok, probe)
	}
	if ok2, _ := b.Allow(); ok2 {
		t.Fatal("a half-open breaker let a second request through with one probe allowed")
	}
	b.Release(probe) // the probe was not sent after all
	ok, probe = b.Allow()
	if !ok || !probe {
		t.Fatal("a released probe was not given back")
	}
	b.Done(probe, true, "")
	s := b.Stats()
	if s.State != BreakerClosed || s.Opens != 1 || s.HalfOpens != 1 || s.Closes != 1 || s.Rejected != 2 {
		t.Errorf("stats = %+v", s)
	}
}
