package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON: the single Result for a
// run with one target, the whole Report (results and ratios) otherwise.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if len(r.Results) == 1 {
		return enc.Encode(r.Results[0])
	}
	return enc.Encode(r)
}

// WriteTable writes the report as a terminal table: one column per target
// and, when comparing, one column per compared target with its ratio to the
// primary target.
func (r *Report) WriteTable(w io.Writer) error {
	return writeTable(w, r.Results, r.Ratios, r.Interrupted)
}

// row is one line of the table.
type row struct {
	label string
	value func(*Result) string
	ratio string // key in the ratios, "" for none
}

var tableRows = []row{
	{"target", func(r *Result) string { return r.Target }, ""},
	{"trace", func(r *Result) string { return r.Trace }, ""},
	{"duration", func(r *Result) string { return strconv.FormatFloat(r.DurationS, 'f', 1, 64) + " s" }, ""},
	{"requests", func(r *Result) string { return strconv.FormatInt(r.Requests, 10) }, ""},
	{"requests/s", func(r *Result) string { return strconv.FormatFloat(r.RequestsPerS, 'f', 1, 64) }, "requests_per_s"},
	{"body Gbit/s", func(r *Result) string { return strconv.FormatFloat(r.GbitPerS, 'f', 3, 64) }, "gbit_per_s"},
	{"TTFB p50 ms", func(r *Result) string { return fmtMs(r.TTFB.P50) }, "ttfb_ms.p50"},
	{"TTFB p99 ms", func(r *Result) string { return fmtMs(r.TTFB.P99) }, "ttfb_ms.p99"},
	{"TTFB p99.9 ms", func(r *Result) string { return fmtMs(r.TTFB.P999) }, "ttfb_ms.p999"},
	{"TTFB max ms", func(r *Result) string { return fmtMs(r.TTFB.Max) }, "ttfb_ms.max"},
	{"latency p50 ms", func(r *Result) string { return fmtMs(r.Latency.P50) }, "latency_ms.p50"},
	{"latency p99 ms", func(r *Result) string { return fmtMs(r.Latency.P99) }, "latency_ms.p99"},
	{"latency p99.9 ms", func(r *Result) string { return fmtMs(r.Latency.P999) }, "latency_ms.p999"},
	{"latency max ms", func(r *Result) string { return fmtMs(r.Latency.Max) }, "latency_ms.max"},
	{"hit ratio", func(r *Result) string { return fmtPct(r.HitRatio) }, "hit_ratio"},
	{"byte hit ratio", func(r *Result) string { return fmtPct(r.ByteHitRatio) }, ""},
	{"origin requests", func(r *Result) string { return fmtIntPtr(r.OriginRequests) }, "origin_requests"},
	{"origin bytes", func(r *Result) string { return fmtBytesPtr(r.OriginBytes) }, "origin_bytes"},
	{"errors", func(r *Result) string { return strconv.FormatInt(r.Errors, 10) }, ""},
	{"abandoned", func(r *Result) string { return strconv.FormatInt(r.Abandoned, 10) }, ""},
	{"verified", func(r *Result) string { return strconv.FormatInt(r.Verified, 10) }, ""},
}

func writeTable(w io.Writer, results []*Result, ratios map[string]map[string]*float64, interrupted bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{""}
	for _, r := range results {
		header = append(header, r.Name)
	}
	for _, r := range results[1:] {
		header = append(header, r.Name+"/"+results[0].Name)
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, rw := range tableRows {
		cells := []string{rw.label}
		empty := true
		for _, r := range results {
			v := rw.value(r)
			if v != "" {
				empty = false
			}
			cells = append(cells, v)
		}
		if empty {
			continue
		}
		for _, r := range results[1:] {
			c := ""
			if rw.ratio != "" {
				c = "-"
				if v := ratios[r.Name][rw.ratio]; v != nil {
					c = strconv.FormatFloat(*v, 'f', 2, 64) + "x"
				}
			}
			cells = append(cells, c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if interrupted {
		fmt.Fprintln(w, "interrupted: partial results")
	}
	for _, r := range results {
		if r.OriginError != "" {
			fmt.Fprintf(w, "origin counters of %s unknown: %s\n", r.Name, r.OriginError)
		}
		for i, e := range r.FirstErrors {
			if i == 0 {
				fmt.Fprintf(w, "first errors of %s (%d in all):\n", r.Name, r.Errors)
			}
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	return nil
}

func fmtMs(v float64) string {
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 3, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func fmtPct(p *float64) string {
	if p == nil {
		return "unknown"
	}
	return strconv.FormatFloat(*p*100, 'f', 1, 64) + " %"
}

func fmtIntPtr(p *int64) string {
	if p == nil {
		return "unknown"
	}
	return strconv.FormatInt(*p, 10)
}

func fmtBytesPtr(p *int64) string {
	if p == nil {
		return "unknown"
	}
	return fmtBytes(*p)
}

// fmtBytes writes n with a binary unit, e.g. "1.50 GiB".
func fmtBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	v, i := float64(n), 0
	for (v >= 1024 || v <= -1024) && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatInt(n, 10) + " B"
	}
	return strconv.FormatFloat(v, 'f', 2, 64) + " " + units[i]
}
