package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"edgecache/bench/trace"
)

// ReplayConfig describes a trace replay. Start from DefaultReplayConfig.
type ReplayConfig struct {
	Trace       string        // trace file (see package edgecache/bench/trace)
	Target      string        // server under test, scheme://host[:port]
	Origin      string        // optional origin URL: /_stats counters, fetched bytes
	Concurrency int           // requests in flight at most
	Requests    int64         // replay at most this many requests; 0 = the whole trace
	Duration    time.Duration // stop issuing requests after this long; 0 = no limit
	DefaultSize int64         // object size for trace entries without one (size 1)
	Timeout     time.Duration // per request, from sending to the last byte

	VerifySample float64 // fraction of answers whose bytes are compared
	VerifyAll    bool    // compare every answer's bytes
	OriginBytes  string  // OriginBytesCompute or OriginBytesFetch
	Seed         uint64  // seed of the verification sample
}

// DefaultReplayConfig returns the default replay settings (trace and target
// not set).
func DefaultReplayConfig() ReplayConfig {
	return ReplayConfig{
		Concurrency:  16,
		DefaultSize:  1 << 20,
		Timeout:      60 * time.Second,
		VerifySample: 0.05,
		OriginBytes:  OriginBytesCompute,
		Seed:         1,
	}
}

// maxRawName is the longest trace key used verbatim in a path.
const maxRawName = 200

// ReplayPath maps a trace key and object size to a path of the synthetic
// origin: /s/<size>/<name>, where name is one safe path segment derived
// from the key: "k" + the key if it consists of letters, digits, '.', '_',
// '~' and '-' only (at most 200 bytes), else "x" + the key in hex (keys up
// to 200 bytes), else "h" + the hex SHA-256 of the key. The prefixes keep
// the three forms apart, so distinct keys give distinct paths (up to
// SHA-256 collisions). The same key with another size is another object.
func ReplayPath(key string, size int64) string {
	return "/s/" + SizeToken(size) + "/" + replayName(key)
}

func replayName(key string) string {
	safe := len(key) <= maxRawName
	for i := 0; safe && i < len(key); i++ {
		c := key[i]
		safe = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '~' || c == '-'
	}
	switch {
	case safe:
		return "k" + key
	case len(key) <= maxRawName:
		return "x" + hex.EncodeToString([]byte(key))
	}
	sum := sha256.Sum256([]byte(key))
	return "h" + hex.EncodeToString(sum[:])
}

// Check validates cfg; Replay does it too.
func (cfg *ReplayConfig) Check() error {
	if cfg.Trace == "" {
		return errors.New("bench: no trace file")
	}
	if cfg.Target == "" {
		return errors.New("bench: no target")
	}
	if _, err := parseBase(cfg.Target); err != nil {
		return err
	}
	if cfg.Concurrency < 1 {
		return fmt.Errorf("bench: concurrency %d: need at least 1", cfg.Concurrency)
	}
	if cfg.Requests < 0 || cfg.Duration < 0 {
		return errors.New("bench: requests and duration cannot be negative")
	}
	if cfg.DefaultSize < 1 {
		return fmt.Errorf("bench: default size %d: need at least 1 byte", cfg.DefaultSize)
	}
	return checkCommon(cfg.VerifySample, cfg.OriginBytes, cfg.Origin, cfg.Timeout)
}

// replayItem is one request handed to a replay worker.
type replayItem struct {
	rq     Request
	verify bool
}

// Replay replays a trace against a target: in trace order, as fast as
// Concurrency allows (timestamps are not followed), one whole-object GET
// per trace entry. It reports object and byte hit ratios from Cache-Status,
// latencies, errors and, with an origin, the origin's counters. A bad trace
// line stops the replay: the result covers the requests made so far and
// the error (a *trace.Error) is returned with it. Cancelling ctx stops early
// with a partial result.
func Replay(ctx context.Context, cfg ReplayConfig) (*Result, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	tr, err := trace.Open(cfg.Trace)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer tr.Close()

	hc := newHTTPClient(cfg.Concurrency + 4)
	defer hc.CloseIdleConnections()
	stats := newStatsReader(hc, cfg.Origin)
	c, err := newClient(ctx, cfg.Target, cfg.Concurrency+4, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	defer c.close()
	stop := context.AfterFunc(ctx, c.interrupt)
	defer stop()

	rec := newRecorder()
	before, ok1, statsErr := stats.read(ctx)
	start := time.Now()

	items := make(chan replayItem, 4*cfg.Concurrency)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		w := newWorker(c, newReference(cfg.OriginBytes, hc, cfg.Origin))
		wg.Go(func() {
			defer w.release()
			for it := range items {
				o := w.do(ctx, it.rq, it.verify)
				if !o.cancelled {
					rec.add(o)
				}
			}
		})
	}

	// Dispatch in trace order. The verification sample is drawn here, so it
	// is the same whichever worker takes a request.
	smp := &sampler{all: cfg.VerifyAll, frac: cfg.VerifySample, rng: rand.New(rand.NewPCG(cfg.Seed, 0x7265706c6179))}
	var traceErr error
	deadline := start.Add(cfg.Duration)
	for n := int64(0); cfg.Requests == 0 || n < cfg.Requests; n++ {
		if cfg.Duration > 0 && !time.Now().Before(deadline) {
			break
		}
		tq, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			traceErr = fmt.Errorf("bench: %w", err)
			break
		}
		size := tq.Size
		if size <= 1 {
			size = cfg.DefaultSize
		}
		it := replayItem{
			rq:     Request{Path: ReplayPath(tq.Key, size), Size: size, Len: size, Read: size, Whole: true},
			verify: smp.next(),
		}
		select {
		case items <- it:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
	}
	close(items)
	wg.Wait()
	elapsed := time.Since(start)

	after, ok2, err2 := stats.read(context.WithoutCancel(ctx))
	rec.phase(elapsed, before, after, ok1 && ok2, errors.Join(statsErr, err2))
	res := rec.result("replay", c.base)
	res.Trace = cfg.Trace
	res.Interrupted = ctx.Err() != nil
	return res, traceErr
}
