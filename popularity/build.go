package popularity

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"edgecache/fill"
)

// Objects tells the size and SHA-256 of the files a manifest names, which
// the access log does not hold.
type Objects interface {
	// Size returns the size of the object at path.
	Size(ctx context.Context, path string) (int64, error)
	// Hash returns the size and hex SHA-256 of the object at path.
	Hash(ctx context.Context, path string) (int64, string, error)
}

// HTTPObjects asks an origin: HEAD for a size (its Content-Length), GET
// for the bytes, hashed as they stream.
type HTTPObjects struct {
	// Base is the origin's URL, scheme://host[:port]; paths are appended.
	Base string
	// Client; default http.DefaultClient.
	Client *http.Client
	// Header is added to every request (e.g. X-Origin-No-Count: 1 for the
	// synthetic origin, so a manifest build is not counted as traffic).
	Header http.Header
}

func (o *HTTPObjects) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(o.Base, "/")+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	for k, v := range o.Header {
		req.Header[k] = v
	}
	c := o.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: the origin answered %s", method, path, resp.Status)
	}
	return resp, nil
}

// Size implements Objects with a HEAD request.
func (o *HTTPObjects) Size(ctx context.Context, path string) (int64, error) {
	resp, err := o.do(ctx, http.MethodHead, path)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return 0, fmt.Errorf("HEAD %s: no Content-Length", path)
	}
	return resp.ContentLength, nil
}

// Hash implements Objects with a GET request.
func (o *HTTPObjects) Hash(ctx context.Context, path string) (int64, string, error) {
	resp, err := o.do(ctx, http.MethodGet, path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: after %d bytes: %w", path, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return 0, "", fmt.Errorf("GET %s: %d bytes, Content-Length said %d", path, n, resp.ContentLength)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// DefaultConcurrency is the default BuildOptions.Concurrency.
const DefaultConcurrency = 8

// BuildOptions configure Build.
type BuildOptions struct {
	Weighting
	// Budget is the bytes the manifest's files may add up to. Required.
	Budget int64
	// TitleOf derives titles from paths; default DefaultTitlePattern.
	TitleOf *TitleOf
	// Objects gives sizes and SHA-256s. Required.
	Objects Objects
	// Concurrency is the most Objects requests at once; default
	// DefaultConcurrency.
	Concurrency int
	// GeneratedAt is the manifest's generated_at; default the start of the
	// day after the reference day (the manifest is tomorrow's), so the same
	// logs always give the same bytes.
	GeneratedAt time.Time
	// Releases are content known to be coming, with assumed views, merged
	// into the ranking (see Release).
	Releases []Release
}

// Result is what Build made.
type Result struct {
	// Manifest is the manifest's JSON (fill format, version 1), checked
	// with fill.Parse.
	Manifest []byte `json:"-"`
	// Today is the reference day of the decay (UTC days since 1970-01-01).
	Today int64 `json:"today"`
	// Seen are the files with bytes in the window, and their titles.
	SeenFiles  int `json:"seen_files"`
	SeenTitles int `json:"seen_titles"`
	// Unfillable are files left out because their path is not a manifest
	// path (a query, or a spelling the cache key never has).
	Unfillable int `json:"unfillable"`
	// Titles, Files and Bytes are the manifest's.
	Titles int   `json:"titles"`
	Files  int   `json:"files"`
	Bytes  int64 `json:"bytes"`
	// Budget is the budget asked for.
	Budget int64 `json:"budget"`
	// Coverage is the share of the window's decayed bytes streamed (of the
	// files seen) that went to the manifest's files: for a manifest built
	// from the very day it is measured on, the offload a cache holding
	// exactly the manifest would have had.
	Coverage float64 `json:"coverage"`
	// ReleaseFiles are the files of BuildOptions.Releases (with views
	// assumed) in the manifest; ReleaseErrors counts the releases naming
	// no file (a title id the logs do not know, given without paths).
	ReleaseFiles  int `json:"release_files,omitempty"`
	ReleaseErrors int `json:"release_errors,omitempty"`
	// SizeErrors and HashErrors count files left out because the origin
	// did not give their size or bytes; Errors describes the first ones.
	SizeErrors int      `json:"size_errors"`
	HashErrors int      `json:"hash_errors"`
	Errors     []string `json:"errors,omitempty"`
	// Ranked is the manifest's content with the scores.
	Ranked []RankedTitle `json:"-"`
}

// Build ranks what a holds and writes tomorrow's manifest: titles by
// decayed bytes streamed over their size, fitted to opt.Budget, every
// file's size and SHA-256 from opt.Objects (a file whose size or bytes
// cannot be had is left out, counted in the Result). The error is ctx's,
// or a bad option.
func Build(ctx context.Context, a *Aggregate, opt BuildOptions) (*Result, error) {
	if opt.Budget <= 0 {
		return nil, errors.New("manifest build: the budget must be > 0")
	}
	if opt.Objects == nil {
		return nil, errors.New("manifest build: no source of object sizes and SHA-256s")
	}
	if opt.TitleOf == nil {
		t, err := NewTitleOf(DefaultTitlePattern)
		if err != nil {
			return nil, err
		}
		opt.TitleOf = t
	}
	if opt.Concurrency <= 0 {
		opt.Concurrency = DefaultConcurrency
	}
	weights, today := Weights(a, opt.Weighting)
	res := &Result{Today: today, Budget: opt.Budget}
	var errMu sync.Mutex
	noteErr := func(count *int, err error) {
		errMu.Lock()
		*count++
		if len(res.Errors) < maxExamples {
			res.Errors = append(res.Errors, err.Error())
		}
		errMu.Unlock()
	}
	fillable := weights[:0:0]
	for _, w := range weights {
		if fill.CheckPath(w.Path) != nil {
			res.Unfillable++
			continue
		}
		fillable = append(fillable, w)
	}
	res.SeenFiles = len(fillable)
	titleIDs := map[string]bool{}
	for _, w := range fillable {
		titleIDs[opt.TitleOf.ID(w.Path)] = true
	}
	res.SeenTitles = len(titleIDs)

	// Releases: their files not seen in the logs join the files seen, with
	// no bytes streamed; their assumed views are added once sizes are known.
	relViews, relErrs := releaseViews(opt.Releases, fillable, opt.TitleOf)
	for _, err := range relErrs {
		noteErr(&res.ReleaseErrors, err)
	}
	logWeight := make(map[string]float64, len(fillable))
	for _, w := range fillable {
		logWeight[w.Path] = w.Weight
	}
	var extra []FileWeight
	for p := range relViews {
		if _, ok := logWeight[p]; !ok {
			extra = append(extra, FileWeight{Path: p})
		}
	}
	slices.SortFunc(extra, func(a, b FileWeight) int { return cmp.Compare(a.Path, b.Path) })
	fillable = append(fillable, extra...)

	// Sizes of every file seen or released.
	sizes := make([]int64, len(fillable))
	err := forEach(ctx, len(fillable), opt.Concurrency, func(i int) {
		n, err := opt.Objects.Size(ctx, fillable[i].Path)
		if err != nil {
			if ctx.Err() == nil {
				noteErr(&res.SizeErrors, err)
			}
			n = -1
		}
		sizes[i] = n
	})
	if err != nil {
		return nil, fmt.Errorf("manifest build: sizes: %w", err)
	}
	sizeOf := make(map[string]int64, len(fillable))
	for i, w := range fillable {
		if sizes[i] >= 0 {
			sizeOf[w.Path] = sizes[i]
			if v, ok := relViews[w.Path]; ok {
				fillable[i].Weight += v * float64(sizes[i])
			}
		}
	}
	ranked := Rank(fillable, func(p string) (int64, bool) { n, ok := sizeOf[p]; return n, ok }, opt.TitleOf)
	chosen := Fit(ranked, opt.Budget)

	// The bytes of every file chosen.
	var refs []*RankedFile
	for i := range chosen {
		for j := range chosen[i].Files {
			refs = append(refs, &chosen[i].Files[j])
		}
	}
	err = forEach(ctx, len(refs), opt.Concurrency, func(i int) {
		f := refs[i]
		n, sum, err := opt.Objects.Hash(ctx, f.Path)
		if err != nil {
			if ctx.Err() == nil {
				noteErr(&res.HashErrors, err)
			}
			f.SHA256 = ""
			return
		}
		f.Size, f.SHA256 = n, sum
	})
	if err != nil {
		return nil, fmt.Errorf("manifest build: hashing: %w", err)
	}
	// Drop what failed, and what no longer fits if a size changed since
	// the HEAD.
	left := opt.Budget
	var final []RankedTitle
	for _, t := range chosen {
		nt := t
		nt.Files, nt.Size = nil, 0
		for _, f := range t.Files {
			if f.SHA256 == "" || f.Size > left || f.Size <= 0 {
				continue
			}
			left -= f.Size
			nt.Files = append(nt.Files, f)
			nt.Size += f.Size
		}
		if len(nt.Files) > 0 {
			final = append(final, nt)
		}
	}
	res.Ranked = final
	var all, covered float64
	for _, w := range fillable {
		all += logWeight[w.Path] // in path order: the same sum for the same input
	}
	for _, t := range final {
		for _, f := range t.Files {
			covered += logWeight[f.Path]
			if _, ok := relViews[f.Path]; ok {
				res.ReleaseFiles++
			}
		}
	}
	if all > 0 {
		res.Coverage = covered / all
	}

	gen := opt.GeneratedAt
	if gen.IsZero() {
		gen = time.Unix((today+1)*86400, 0).UTC()
	}
	m := fill.Manifest{Version: fill.ManifestVersion, GeneratedAt: gen.UTC(), Titles: []fill.Title{}}
	for i, t := range final {
		ft := fill.Title{ID: t.ID, Rank: i + 1}
		for _, f := range t.Files {
			ft.Files = append(ft.Files, fill.File{Path: f.Path, Size: f.Size, SHA256: f.SHA256})
			res.Files++
			res.Bytes += f.Size
		}
		m.Titles = append(m.Titles, ft)
	}
	res.Titles = len(m.Titles)
	js, err := json.Marshal(&m)
	if err != nil {
		return nil, fmt.Errorf("manifest build: encoding: %w", err)
	}
	js = append(js, '\n')
	if _, err := fill.Parse(js, fill.ParseOptions{Source: "built manifest"}); err != nil {
		return nil, fmt.Errorf("manifest build: the manifest does not check: %w", err)
	}
	res.Manifest = js
	return res, nil
}

// forEach calls f(0..n-1) from up to par goroutines; it stops handing out
// work when ctx ends and then returns ctx's error.
func forEach(ctx context.Context, n, par int, f func(i int)) error {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(par, n) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return ctx.Err()
}
