package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (r *DayReport) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// pct formats a ratio as a percentage.
func pct(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) }

// gib formats bytes in GiB.
func gib(n int64) string { return fmt.Sprintf("%.2f", float64(n)/(1<<30)) }

// WriteTable writes the report as plain tables: per hour, the bytes served
// and, per variant, the bytes from the origin and the offload; then the
// day, the peak hour and the fills.
func (r *DayReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "simulated day: %d titles, catalogue %s GiB, fill budget %s GiB", r.Titles, gib(r.CatalogueBytes), gib(r.FillBudget))
	if r.CacheBytes > 0 {
		fmt.Fprintf(w, ", cache %s GiB (%.0f%% of the catalogue)", gib(r.CacheBytes), 100*float64(r.CacheBytes)/float64(r.CatalogueBytes))
	}
	fmt.Fprintf(w, "; Zipf %.2f, %.0f%% of views to new titles\n\n", r.Zipf, 100*r.Churn)
	if len(r.Runs) == 0 {
		return nil
	}
	head := []string{"hour", "players", "served GiB"}
	for _, run := range r.Runs {
		head = append(head, "origin GiB "+run.Variant, "offload "+run.Variant)
	}
	head = append(head, "TTFB p50 ms", "TTFB p99 ms")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	last := len(r.Runs) - 1
	for i, h := range r.Runs[0].Hours {
		cells := []string{fmt.Sprintf("%02d", h.Hour), fmt.Sprint(h.Players), gib(h.Bytes)}
		for _, run := range r.Runs {
			if i < len(run.Hours) {
				cells = append(cells, gib(run.Hours[i].OriginBytes), pct(run.Hours[i].Offload))
			} else {
				cells = append(cells, "", "")
			}
		}
		if i < len(r.Runs[last].Hours) {
			hh := r.Runs[last].Hours[i]
			cells = append(cells, fmt.Sprintf("%.2f", hh.TTFBP50), fmt.Sprintf("%.2f", hh.TTFBP99))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "(TTFB columns: the %s run)\n\n", r.Runs[last].Variant)

	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tday served GiB\tday origin GiB\tday offload\tpeak hour\tpeak offload\tpeak origin GiB\tTTFB p50 ms\tTTFB p99 ms\tfill GiB\tfill s\tfill files\tmanifest coverage\terrors\tverified\t")
	for _, run := range r.Runs {
		fillB, fillS, fillF, cov := "-", "-", "-", "-"
		if run.Manifest != nil {
			cov = pct(run.Manifest.Coverage)
		}
		if run.Fill != nil {
			fillB = gib(run.Fill.OriginBytes)
			fillS = fmt.Sprintf("%.1f", run.Fill.DurationS)
			fillF = fmt.Sprintf("%d/%d", run.Fill.FilesFilled, run.Fill.Files)
		}
		d, p := run.Day, run.Peak
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%02d\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t%d\t%d/%d\t\n", run.Variant, gib(d.Bytes), gib(d.OriginBytes),
			pct(d.Offload), p.Hour, pct(p.Offload), gib(p.OriginBytes), d.TTFBP50, d.TTFBP99, fillB, fillS, fillF, cov, d.Errors+run.Warmup.Errors, d.Verified, d.Requests)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if b := r.Bound; b != nil {
		fmt.Fprintf(w, "bound (offline replay of the same requests, cache on miss, %s chunks): Belady's MIN %s at %02d:00, %s over the day; LRU %s, %s\n",
			fmtBytes(b.ChunkSize), pct(b.BeladyPeak), b.PeakHour, pct(b.BeladyDay), pct(b.LRUPeak), pct(b.LRUDay))
	}
	for _, run := range r.Runs {
		for _, e := range run.FirstErrors {
			fmt.Fprintf(w, "%s: error: %s\n", run.Variant, e)
		}
	}
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the report covers what finished")
	}
	return nil
}

// svgColor returns a variant's line colour.
func svgColor(variant string) string {
	switch variant {
	case VariantOff:
		return "#d62728"
	case VariantNightly:
		return "#1f77b4"
	}
	return "#2ca02c"
}

// WriteSVG writes a chart of the measured day: bytes served per hour as
// bars, and each variant's offload per hour as a line.
func (r *DayReport) WriteSVG(w io.Writer) error {
	const W, H, left, right, top, bottom = 760, 380, 60, 60, 30, 40
	pw, ph := float64(W-left-right), float64(H-top-bottom)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="18" font-size="13">Offload per simulated hour (lines, left axis) and bytes served (bars, right axis)</text>`+"\n", left)
	if len(r.Runs) > 0 {
		hours := r.Runs[0].Hours
		var maxB int64 = 1
		for _, h := range hours {
			maxB = max(maxB, h.Bytes)
		}
		bw := pw / 24
		for i, h := range hours {
			bh := float64(h.Bytes) / float64(maxB) * ph
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ddd"/>`+"\n", left+float64(i)*bw+1, top+ph-bh, bw-2, bh)
		}
		for _, y := range []float64{0, 0.25, 0.5, 0.75, 0.95, 1} {
			py := top + ph - y*ph
			fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#bbb" stroke-dasharray="2,3"/>`, left, left+pw, py, py)
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.0f%%</text>`+"\n", left-4, py+4, 100*y)
		}
		fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="start">%s GiB</text>`+"\n", left+pw+4, top+4, gib(maxB))
		for i := 0; i < 24; i += 3 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle">%02d:00</text>`+"\n", left+(float64(i)+0.5)*bw, top+ph+16, i)
		}
		for k, run := range r.Runs {
			var pts []string
			for i, h := range run.Hours {
				y := min(max(h.Offload, 0), 1)
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", left+(float64(i)+0.5)*bw, top+ph-y*ph))
			}
			col := svgColor(run.Variant)
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", col, strings.Join(pts, " "))
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" fill="%s">%s: day %s, peak %s</text>`+"\n", float64(left)+10+float64(k)*220, float64(H)-8, col, run.Variant, pct(run.Day.Offload), pct(run.Peak.Offload))
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
