// Package bench is the player workload generator behind "edgecache bench":
// virtual video players that fetch byte ranges from a cache (or any HTTP
// server holding the synthetic origin's objects), measure what they get and
// check every answer against the origin's bytes. It also replays request
// traces (see Replay).
//
// # The workload model
//
// The catalog is T titles (Config.Titles, default 200). Each title is one
// media file addressed by byte ranges, as DASH SegmentBase or Netflix-style
// players fetch it. Two path schemes are supported (Config.Paths):
//
//   - "s" (default): title i is the single object /s/<title size>/bench-t<i>.mp4
//     of Config.TitleSize bytes (default 64 MiB). It works on edgecache's
//     synthetic origin and on the peer benchmark's origin.
//   - "v": title i is a sequence of separate segment objects
//     /v/bench-t<i>/<seg>.m4s of Config.ObjectSize bytes each (the origin's
//     /v/ object size, 1 MiB by default), enough of them to hold TitleSize.
//     A read that covers a whole segment object is a plain GET; one that
//     starts or ends inside it is a Range request inside that object.
//
// N virtual players (Config.Players, default 16) run at once. Each loops:
//
//  1. pick a title by Zipf popularity: title k (rank k, 1 = most popular)
//     with probability (1/k^s)/H(T,s), s = Config.Zipf (default 0.9), drawn by
//     inverse-CDF sampling over a precomputed cumulative table (see Zipf);
//  2. start at offset 0, or with probability Config.SeekStart (0.1) at a
//     uniformly random offset;
//  3. request consecutive ranges "bytes=a-b" of Config.SegmentSize bytes
//     (default 2 MiB) varied uniformly by ±50% per request, until the end of
//     the title. Before each further request the player jumps to a random
//     offset with probability Config.Jump (0.05) and abandons the title for
//     a new one with probability Config.Abandon (0.02);
//  4. with probability Config.OpenEnded (0.02) a request is open-ended
//     ("bytes=a-", to the end of the object): the player reads only part of
//     the answer, closes the connection and moves to another title. These
//     are counted as abandoned, not as errors.
//
// Every random choice comes from a per-player generator seeded by
// Config.Seed and the player's index, so two runs with the same seed issue
// the same request sequence per player, whatever the target answers.
//
// # Measurement and verification
//
// Requests go over keep-alive connections (fasthttp's HostClient, streaming
// response bodies, so the time to the first body byte is observable). For
// every request the time to first byte (TTFB: from sending the request to
// reading the first body byte) and the total latency (to the last byte) are
// recorded in HDR histograms (microsecond resolution, 3 significant digits).
// Hits are counted from the first member of the Cache-Status header (RFC
// 9211) carrying the "hit" parameter, or an X-Cache header starting with
// "HIT" for other caches. With an origin URL the origin's /_stats counters
// (requests, bytes) are read before and after the measured phase.
//
// Every answer's status, Content-Range and length are checked (a range must
// be answered 206 with exactly the requested range, a plain GET 200 with the
// whole object). The body bytes of a sample of responses
// (Config.VerifySample, or all with Config.VerifyAll) are compared with the
// origin's: computed with origin.FillContent (valid for edgecache's synthetic
// origin and the peer benchmark's origin, which share the byte function), or
// fetched from the origin itself with the header "X-Origin-No-Count: 1"
// (Config.OriginBytes = "fetch"). Transport errors, wrong statuses, wrong
// Content-Range or length and wrong bytes are errors.
//
// # Comparing targets
//
// With several targets (Config.Targets), the same workload runs against each
// in interleaved rounds (Config.Rounds): each round gives every target
// Duration/Rounds, in an order rotated per round, so drift of the machine
// affects all alike. Each target keeps its own players across rounds, so it
// sees the same request sequence as the others. Results are aggregated per
// target and reported side by side with ratios to the first (primary) target.
package bench
