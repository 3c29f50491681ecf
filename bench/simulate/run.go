package simulate

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"edgecache/cache/policy"
)

// Belady is the name of the offline optimal policy the simulator adds to
// those of package policy.
const Belady = "belady"

// checkEvery is a mask: replays check for cancellation every checkEvery+1
// requests.
const checkEvery = 1<<16 - 1

// Policies returns the names Run accepts: policy.Names() followed by
// Belady.
func Policies() []string {
	return append(policy.Names(), Belady)
}

// Result is the outcome of replaying a trace against one policy at one
// cache size.
type Result struct {
	Policy   string `json:"policy"`
	Size     int64  `json:"size"`      // cache capacity in bytes
	Requests int64  `json:"requests"`  // requests replayed
	Hits     int64  `json:"hits"`      // requests that hit
	Bytes    int64  `json:"bytes"`     // bytes requested
	HitBytes int64  `json:"hit_bytes"` // bytes of the requests that hit
	// ObjectHitRatio is Hits/Requests; ByteHitRatio is HitBytes/Bytes
	// (0 for an empty trace).
	ObjectHitRatio float64 `json:"object_hit_ratio"`
	ByteHitRatio   float64 `json:"byte_hit_ratio"`
	// Elapsed is the wall time of the replay.
	Elapsed time.Duration `json:"elapsed_ns"`
}

// UnknownPolicyError is the error Run returns for a policy name it does not
// know.
type UnknownPolicyError struct {
	Name string
}

// Error names the policy and lists the known ones.
func (e *UnknownPolicyError) Error() string {
	return fmt.Sprintf("unknown policy %q (known: %s)", e.Name, strings.Join(Policies(), ", "))
}

// replayer is the part of policy.Policy a replay uses.
type replayer interface {
	Get(key uint64) bool
	Add(key uint64, size int64) bool
}

// factory makes a fresh policy of capacity bytes.
type factory func(name string, capacity int64) (replayer, error)

// newPolicy is the factory Run uses: the policies of package policy.
func newPolicy(name string, capacity int64) (replayer, error) {
	return policy.New(name, capacity, nil)
}

// Run replays t against every policy at every cache size (in bytes, > 0),
// running up to parallel replays at once (GOMAXPROCS if parallel <= 0).
// Each replay has its own policy instance; t is shared read-only. Results
// come in the order of sizes, then policies: results[i*len(policies)+j] is
// sizes[i] with policies[j]. Run returns an *UnknownPolicyError before
// replaying anything if a name is not in Policies(), and ctx's error if ctx
// is done before every replay finishes.
func Run(ctx context.Context, t *Trace, policies []string, sizes []int64, parallel int) ([]Result, error) {
	known := Policies()
	for _, p := range policies {
		if !slices.Contains(known, p) {
			return nil, &UnknownPolicyError{Name: p}
		}
	}
	return run(ctx, t, policies, sizes, parallel, newPolicy)
}

// Replay replays t against one policy (a name of Policies()) with capacity
// bytes (> 0) and calls seen with each request's index and whether it hit,
// in the trace's order: for a caller that weighs requests its own way (bench
// day counts a miss's whole chunk against the hour it falls in).
func Replay(ctx context.Context, t *Trace, name string, capacity int64, seen func(i int, hit bool)) error {
	if !slices.Contains(Policies(), name) {
		return &UnknownPolicyError{Name: name}
	}
	if capacity <= 0 {
		return fmt.Errorf("cache size %d: must be at least 1 byte", capacity)
	}
	var err error
	if name == Belady {
		_, _, err = runBelady(ctx, t, capacity, seen)
	} else {
		_, _, err = runPolicy(ctx, t, name, capacity, newPolicy, seen)
	}
	return err
}

// run is Run with the policies made by mk (Belady excepted).
func run(ctx context.Context, t *Trace, policies []string, sizes []int64, parallel int, mk factory) ([]Result, error) {
	for _, s := range sizes {
		if s <= 0 {
			return nil, fmt.Errorf("cache size %d: must be at least 1 byte", s)
		}
	}
	if parallel <= 0 {
		parallel = runtime.GOMAXPROCS(0)
	}
	results := make([]Result, len(sizes)*len(policies))
	for i, s := range sizes {
		for j, p := range policies {
			results[i*len(policies)+j] = Result{Policy: p, Size: s}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	jobs := make(chan int)
	for range min(parallel, len(results)) {
		wg.Go(func() {
			for i := range jobs {
				if err := replay(ctx, t, &results[i], mk); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					cancel()
				}
			}
		})
	}
feed:
	for i := range results {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil { // the caller's ctx: ours is cancelled only on error
		return nil, err
	}
	return results, nil
}

// replay fills in r (whose Policy and Size are set) by replaying t.
func replay(ctx context.Context, t *Trace, r *Result, mk factory) error {
	start := time.Now()
	var hits, hitBytes int64
	var err error
	if r.Policy == Belady {
		hits, hitBytes, err = runBelady(ctx, t, r.Size, nil)
	} else {
		hits, hitBytes, err = runPolicy(ctx, t, r.Policy, r.Size, mk, nil)
	}
	if err != nil {
		return err
	}
	r.Elapsed = time.Since(start)
	r.Requests, r.Hits = int64(len(t.ids)), hits
	r.Bytes, r.HitBytes = t.totalBytes, hitBytes
	if r.Requests > 0 {
		r.ObjectHitRatio = float64(hits) / float64(r.Requests)
	}
	if r.Bytes > 0 {
		r.ByteHitRatio = float64(hitBytes) / float64(r.Bytes)
	}
	return nil
}

// runPolicy replays t against a fresh policy from mk; seen, if not nil, is
// told each request's outcome in order.
func runPolicy(ctx context.Context, t *Trace, name string, capacity int64, mk factory, seen func(i int, hit bool)) (hits, hitBytes int64, err error) {
	p, err := mk(name, capacity)
	if err != nil {
		return 0, 0, fmt.Errorf("policy %s at %d bytes: %w", name, capacity, err)
	}
	sizes := t.sizes[:len(t.ids)]
	for i, id := range t.ids {
		if i&checkEvery == 0 && ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		key := mix(id)
		hit := p.Get(key)
		if seen != nil {
			seen(i, hit)
		}
		if hit {
			hits++
			hitBytes += sizes[i]
		} else {
			p.Add(key, sizes[i])
		}
	}
	return hits, hitBytes, nil
}

// mix maps a dense id to a policy key: the splitmix64 finalizer, a
// bijection on uint64, so distinct ids stay distinct keys.
func mix(id uint32) uint64 {
	z := uint64(id) + 0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
