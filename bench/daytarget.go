package bench

import (
	"context"
	"errors"

	"edgecache/popularity"
)

// RunDayOne runs one variant of the simulated day against d, a daemon the
// caller started (or found running) with an empty cache: day 0, the night
// (the variant's fill), then day 1, measured hour by hour, as RunDay does
// for each of its variants. cfg.Variants is ignored. The oracle variant
// needs todayLog: the access log of day 1 as an off run of the same cfg
// wrote it (the same views, since the requests depend only on cfg); the
// other variants ignore it. d is closed before RunDayOne returns.
func RunDayOne(ctx context.Context, cfg DayConfig, variant string, d DayDaemon, todayLog string) (*DayReport, error) {
	ok := false
	defer func() {
		if !ok {
			d.Close()
		}
	}()
	cfg.Variants = []string{variant}
	if variant == VariantOracle {
		if todayLog == "" {
			return nil, errors.New("bench day: the oracle variant needs the access log of the same day from an off run (its manifest is built from it)")
		}
		cfg.Variants = []string{VariantOff, VariantOracle} // Check wants the off run the oracle's log comes from
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg.Variants = []string{variant}
	wl, progress, rep, err := prepareDay(&cfg)
	if err != nil {
		return nil, err
	}
	ok = true // runVariant closes d
	start := func(context.Context, string) (DayDaemon, error) { return d, nil }
	run, _, err := runVariant(ctx, &cfg, wl, variant, start, "", todayLog, map[string]*popularity.Result{}, progress)
	if run != nil {
		rep.Runs = append(rep.Runs, *run)
	}
	if err != nil {
		rep.Interrupted = ctx.Err() != nil
		return rep, err
	}
	return rep, nil
}
