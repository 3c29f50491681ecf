package bench

import (
	"context"
	"strings"
	"testing"
)

// closeCounter is a DayDaemon that only counts its Close calls.
type closeCounter struct {
	DayDaemon
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// RunDayOne refuses what it cannot run, naming why, and closes the daemon
// it was given all the same.
func TestRunDayOneRefuses(t *testing.T) {
	cfg := DefaultDayConfig()
	cfg.FillBudget = 1 << 30
	for _, tc := range []struct {
		variant, log, want string
	}{
		{VariantOracle, "", "oracle variant needs the access log"},
		{"sometimes", "", `variant "sometimes"`},
	} {
		d := &closeCounter{}
		rep, err := RunDayOne(context.Background(), cfg, tc.variant, d, tc.log)
		if rep != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: report %v, error %v; want %q", tc.variant, rep, err, tc.want)
		}
		if d.closed != 1 {
			t.Errorf("%s: the daemon was closed %d times", tc.variant, d.closed)
		}
	}
	cfg.FillBudget = 0
	if _, err := RunDayOne(context.Background(), cfg, VariantNightly, &closeCounter{}, ""); err == nil || !strings.Contains(err.Error(), "fill budget") {
		t.Errorf("nightly without a fill budget: %v", err)
	}
}
