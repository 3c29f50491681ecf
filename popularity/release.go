package popularity

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"edgecache/fill"
)

// Release is content known to be coming (tomorrow's new releases, a title
// about to be promoted) with the views assumed for it, which no access log
// can hold yet. Build merges releases into the ranking: a file of a
// release gets Views × its size of bytes streamed on top of its logs',
// so its score (views per byte of disk, like every file's) is Views plus
// what its logs give, and it competes for the budget with the rest.
type Release struct {
	// Key is a file's path (beginning with "/": that one file, of the
	// title the title pattern gives) or a title id (every file in Paths,
	// else every file of that title seen in the logs).
	Key string
	// Views is how many times the file or the whole title is assumed to
	// be streamed through, counted like a day of logs at the reference day
	// (the weight 1 of the decay); > 0.
	Views float64
	// Paths are the files of a title id that the logs do not name (a new
	// release); empty for a path.
	Paths []string
}

// ParseReleases reads releases, one a line: a path or a title id, then
// the assumed views, then for a title id the paths of its files if the logs
// do not name them, separated by spaces or tabs:
//
//	# tomorrow's releases
//	/v/new-film/0.m4s 120
//	new-show 80 /v/new-show/0.m4s /v/new-show/1.m4s
//	old-film 30
//
// Blank lines and lines beginning with # are skipped. An error names the
// source and line; every path must be a manifest path (fill.CheckPath).
// A key given twice adds up its views (an error if they add up to
// infinity).
func ParseReleases(r io.Reader, source string) ([]Release, error) {
	var out []Release
	idx := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("releases %s:%d: want a path or title id and the assumed views", source, n)
		}
		views, err := strconv.ParseFloat(f[1], 64)
		if err != nil || !(views > 0) || math.IsInf(views, 0) {
			return nil, fmt.Errorf("releases %s:%d: views %q: want a number > 0", source, n, f[1])
		}
		rel := Release{Key: f[0], Views: views, Paths: f[2:]}
		if strings.HasPrefix(rel.Key, "/") {
			if len(rel.Paths) > 0 {
				return nil, fmt.Errorf("releases %s:%d: a path (%s) is one file: paths after it are for title ids", source, n, rel.Key)
			}
			if err := fill.CheckPath(rel.Key); err != nil {
				return nil, fmt.Errorf("releases %s:%d: %w", source, n, err)
			}
		}
		for _, p := range rel.Paths {
			if err := fill.CheckPath(p); err != nil {
				return nil, fmt.Errorf("releases %s:%d: %w", source, n, err)
			}
		}
		if i, ok := idx[rel.Key]; ok {
			if math.IsInf(out[i].Views+rel.Views, 0) {
				return nil, fmt.Errorf("releases %s:%d: %s: its views add up past the largest number (%g)", source, n, rel.Key, math.MaxFloat64)
			}
			out[i].Views += rel.Views
			out[i].Paths = append(out[i].Paths, rel.Paths...)
			continue
		}
		idx[rel.Key] = len(out)
		out = append(out, rel)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("releases %s: %w", source, err)
	}
	return out, nil
}

// ReadReleases reads a releases file (see ParseReleases).
func ReadReleases(name string) ([]Release, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("releases: %w", err)
	}
	defer f.Close()
	return ParseReleases(f, name)
}

// errNoFiles is wrapped by the error of a release whose files are unknown.
var errNoFiles = errors.New("no files: the logs name none of the title's and the release lists none")

// releaseViews returns the assumed views per file path of rels: a path's
// own, and a title id's for each of its files (its Paths, else the files
// of fillable whose title it is), and the releases naming no file.
func releaseViews(rels []Release, fillable []FileWeight, titleOf *TitleOf) (map[string]float64, []error) {
	views := map[string]float64{}
	var byTitle map[string][]string
	var errs []error
	for _, r := range rels {
		paths := r.Paths
		switch {
		case strings.HasPrefix(r.Key, "/"):
			paths = []string{r.Key}
		case len(paths) == 0:
			if byTitle == nil {
				byTitle = map[string][]string{}
				for _, w := range fillable {
					id := titleOf.ID(w.Path)
					byTitle[id] = append(byTitle[id], w.Path)
				}
			}
			paths = byTitle[r.Key]
		}
		if len(paths) == 0 {
			errs = append(errs, fmt.Errorf("release %s: %w", r.Key, errNoFiles))
			continue
		}
		seen := map[string]bool{}
		for _, p := range paths {
			if !seen[p] {
				seen[p] = true
				views[p] += r.Views
			}
		}
	}
	return views, errs
}
