// Package cache holds objects as fixed-size chunks in tiers and fills what
// is missing from a Source.
//
// An object (identified by its normalized key) is cut into chunks of
// Options.ChunkSize bytes; chunk i holds bytes [i·C, min((i+1)·C, size)).
// The chunk is the unit of fetching, collapsing, storing and evicting.
//
// A Store answers two questions for the HTTP front: what is this object
// (Lookup: size, validators, freshness), and give me bytes [off, off+n) of
// this version (NewReader). Missing chunks are fetched through a fetch
// group: one flight per chunk, however many readers want it, and every
// reader streams the flight's bytes as they arrive (read-while-write). A
// flight runs detached from the request that started it, so a client that
// goes away never stalls or wastes the fetch for the others.
//
// Every chunk records the validator of the object version it belongs to; a
// reader never assembles a response from two versions.
//
// The package knows nothing of HTTP requests; it reaches the upstream only
// through the Source interface.
package cache
