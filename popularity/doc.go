// Package popularity turns access logs into tomorrow's fill manifest.
//
// It reads the daemon's access log (JSON lines, see server.AccessEntry),
// plain or gzip/zstd compressed, several files at once, streaming: lines are
// parsed by a small hand-written scanner for that fixed format (fuzzed
// against encoding/json) and added up per file (the content path), never
// kept. Bad lines are counted and skipped. Bytes streamed are bucketed per
// UTC day, and the ranking weighs each day by an exponential decay
// (half-life in days) over a window of days ending at the newest day seen.
//
// A title's popularity is its decayed bytes streamed divided by its size
// (the sum of the sizes of its files): how many times it was watched
// through, so that a long film is not favoured for being long. Titles are
// derived from paths by a pattern (by default the first two segments,
// /v/<title>/). The budget is filled file by file, most views per byte
// first (so the rarely watched end of a popular film does not take the
// place of the next films' beginnings); the manifest lists the chosen
// files by title, most popular title first (the fill order). Ties are
// broken by name, so the same input always gives the same manifest.
//
// The manifest names each file's size and SHA-256, which the log does not
// hold: Build asks an Objects source for them (HTTPObjects fetches them from
// the origin: HEAD for the size of every file seen, GET of every file
// chosen, hashed as it streams).
package popularity
