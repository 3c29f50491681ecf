// Package fill fills the cache ahead of demand: it reads a manifest of what
// should be on the box tomorrow (titles ranked by popularity, each a list of
// files with their size and SHA-256), works out what the cache does not hold
// yet, and fetches that, most popular first, under a bandwidth cap and a
// concurrency cap, inside a daily fill window, verifying every file.
//
// The pieces:
//
//   - Manifest, Parse and Load: the manifest format (JSON, optionally gzip
//     or zstd compressed, optionally signed with ed25519 in a detached
//     ".sig" file), validated whole before anything is done with it.
//   - Window and ParseWindow: the daily fill window ("02:00-06:00" in an
//     IANA time zone), windows that cross midnight included.
//   - Cache: the few things a fill needs of the cache. *cache.Store
//     provides them through cache.Filler; tests put anything behind it.
//   - Runner: runs fill jobs one at a time. A job diffs the manifest against
//     the cache, fills what is missing, keeps its progress in a state file so
//     that a restarted runner continues it, stops at the window's end, and
//     ends with a JSON report kept on disk. Its Status is what an admin
//     endpoint serves and its Counters what a metrics collector reads.
//
// The package knows nothing of HTTP serving; it reaches HTTP only to load a
// manifest from an http:// or https:// URL.
package fill
