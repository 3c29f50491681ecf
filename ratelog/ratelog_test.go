package ratelog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)), time.Minute)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	steps := []struct {
		advance time.Duration
		cause   string
		logged  bool
	}{
		{0, "a", true},
		{time.Second, "a", false},
		{time.Second, "a", false},
		{0, "b", true}, // another cause is not held back by a
		{time.Minute, "a", true},
		{0, "a", false},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if got := l.Log(slog.LevelWarn, s.cause, "msg "+s.cause); got != s.logged {
			t.Errorf("step %d (%s): logged %v, want %v", i, s.cause, got, s.logged)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3:\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[2], "msg a") || !strings.Contains(lines[2], "suppressed=2") {
		t.Errorf("third line %q, want msg a with suppressed=2", lines[2])
	}
	if strings.Contains(lines[0], "suppressed") {
		t.Errorf("first line %q counts suppressed lines", lines[0])
	}
}

func TestLimiterBoundedCauses(t *testing.T) {
	l := New(slog.New(slog.DiscardHandler), time.Hour)
	for i := range 5 * maxCauses {
		l.Log(slog.LevelInfo, strings.Repeat("x", i%97)+string(rune(i)), "m")
	}
	if n := len(l.causes); n > maxCauses {
		t.Fatalf("%d causes remembered, at most %d", n, maxCauses)
	}
}
