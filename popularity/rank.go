package popularity

import (
	"cmp"
	"fmt"
	"math"
	"regexp"
	"slices"
)

// DefaultTitlePattern derives a title from a path: its first two segments,
// /v/<title>/, the title's id being the second one.
const DefaultTitlePattern = `^/v/([^/]+)/`

// Defaults of Weighting.
const (
	DefaultDays     = 7
	DefaultHalfLife = 1.0
)

// Weighting says how a file's bytes streamed are weighed over days.
type Weighting struct {
	// Days is the window: the days from Today-Days+1 to Today count, older
	// and newer ones do not. Default DefaultDays.
	Days int
	// HalfLife is the decay's half-life in days: the bytes of a day d days
	// before Today weigh 0.5^(d/HalfLife). 0 means DefaultHalfLife; a
	// negative value means no decay.
	HalfLife float64
	// Today is the reference day (UTC days since 1970-01-01); if HasToday
	// is false it is the newest day in the logs.
	Today    int64
	HasToday bool
}

// FileWeight is a file's decayed bytes streamed.
type FileWeight struct {
	Path   string
	Weight float64
}

// Weights returns the decayed bytes streamed of every file a counted, in
// path order; files with no bytes in the window are left out. It also
// returns the reference day used.
func Weights(a *Aggregate, w Weighting) ([]FileWeight, int64) {
	if w.Days <= 0 {
		w.Days = DefaultDays
	}
	if w.HalfLife == 0 {
		w.HalfLife = DefaultHalfLife
	}
	today := w.Today
	if !w.HasToday {
		_, today, _ = a.Days()
	}
	paths := make([]string, 0, len(a.files))
	for p := range a.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	out := make([]FileWeight, 0, len(paths))
	var days []dayBytes
	for _, p := range paths {
		days = append(days[:0], a.files[p]...)
		slices.SortFunc(days, func(x, y dayBytes) int { return cmp.Compare(x.day, y.day) })
		var sum float64
		for _, d := range days {
			age := today - d.day
			if age < 0 || age >= int64(w.Days) {
				continue
			}
			f := 1.0
			if w.HalfLife > 0 {
				f = math.Exp2(-float64(age) / w.HalfLife)
			}
			sum += f * float64(d.bytes)
		}
		if sum > 0 {
			out = append(out, FileWeight{Path: p, Weight: sum})
		}
	}
	return out, today
}

// TitleOf derives title ids from paths.
type TitleOf struct{ re *regexp.Regexp }

// NewTitleOf compiles a title pattern: a regular expression matched
// against a path; the title's id is its first submatch if it has one, else
// the whole match. A path it does not match is a title of its own, whose
// id is the path.
func NewTitleOf(pattern string) (*TitleOf, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("title pattern: %w", err)
	}
	return &TitleOf{re: re}, nil
}

// ID returns the title id of path.
func (t *TitleOf) ID(path string) string {
	m := t.re.FindStringSubmatchIndex(path)
	switch {
	case m == nil:
		return path
	case len(m) >= 4 && m[2] >= 0 && m[3] > m[2]:
		return path[m[2]:m[3]]
	case m[1] > m[0]:
		return path[m[0]:m[1]]
	}
	return path
}

// RankedFile is a file of a RankedTitle.
type RankedFile struct {
	Path   string  `json:"path"`
	Size   int64   `json:"size"`
	Weight float64 `json:"weight"` // decayed bytes streamed
	Score  float64 `json:"score"`  // Weight / Size: decayed views
	SHA256 string  `json:"sha256,omitempty"`
}

// RankedTitle is a title with its popularity.
type RankedTitle struct {
	ID     string       `json:"id"`
	Size   int64        `json:"size"`   // of its files
	Weight float64      `json:"weight"` // decayed bytes streamed
	Score  float64      `json:"score"`  // Weight / Size: decayed views of the whole title
	Files  []RankedFile `json:"files"`  // most popular first
}

// Rank groups files into titles and sorts them by popularity: a title's
// score is its decayed bytes streamed divided by its size (the sum of its
// files' sizes, from size; files whose size is unknown or 0 are left out),
// highest first, ties by id; a title's files by their own score, ties by
// path.
func Rank(files []FileWeight, size func(path string) (int64, bool), titleOf *TitleOf) []RankedTitle {
	idx := map[string]int{}
	var titles []RankedTitle
	for _, f := range files {
		n, ok := size(f.Path)
		if !ok || n <= 0 {
			continue
		}
		id := titleOf.ID(f.Path)
		i, ok := idx[id]
		if !ok {
			i = len(titles)
			idx[id] = i
			titles = append(titles, RankedTitle{ID: id})
		}
		t := &titles[i]
		t.Files = append(t.Files, RankedFile{Path: f.Path, Size: n, Weight: f.Weight, Score: f.Weight / float64(n)})
	}
	for i := range titles {
		t := &titles[i]
		// files came in path order: the sums are the same for the same input
		for _, f := range t.Files {
			t.Size += f.Size
			t.Weight += f.Weight
		}
		t.Score = t.Weight / float64(t.Size)
		slices.SortFunc(t.Files, func(a, b RankedFile) int {
			if c := cmp.Compare(b.Score, a.Score); c != 0 {
				return c
			}
			return cmp.Compare(a.Path, b.Path)
		})
	}
	slices.SortFunc(titles, func(a, b RankedTitle) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return titles
}

// Fit returns what of titles (in rank order) fits budget bytes. Files are
// chosen by their own score (decayed views per byte: the most hits per byte
// of disk), highest first, ties by their title's rank then their order in
// it; a file bigger than what is left is skipped (a smaller one further
// down may still fit). So a popular title's rarely watched end does not
// take the place of the next titles' beginnings. The titles keep their
// rank order (the fill order), each with its chosen files in its order;
// titles left with no file are dropped. titles is not modified.
func Fit(titles []RankedTitle, budget int64) []RankedTitle {
	type ref struct{ t, f int }
	var refs []ref
	for i, t := range titles {
		for j := range t.Files {
			refs = append(refs, ref{i, j})
		}
	}
	slices.SortStableFunc(refs, func(a, b ref) int {
		if c := cmp.Compare(titles[b.t].Files[b.f].Score, titles[a.t].Files[a.f].Score); c != 0 {
			return c
		}
		if c := cmp.Compare(a.t, b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.f, b.f)
	})
	keep := make([][]bool, len(titles))
	for i, t := range titles {
		keep[i] = make([]bool, len(t.Files))
	}
	left := budget
	for _, r := range refs {
		if left <= 0 {
			break
		}
		if n := titles[r.t].Files[r.f].Size; n <= left {
			keep[r.t][r.f] = true
			left -= n
		}
	}
	var out []RankedTitle
	for i, t := range titles {
		nt := t
		nt.Files, nt.Size = nil, 0
		for j, f := range t.Files {
			if keep[i][j] {
				nt.Files = append(nt.Files, f)
				nt.Size += f.Size
			}
		}
		if len(nt.Files) > 0 {
			out = append(out, nt)
		}
	}
	return out
}
