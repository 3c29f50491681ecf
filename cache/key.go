package cache

import "strings"

// Key is the cache key of an object: the normalized request path and the
// query parameters that are part of the key. A Key owns its bytes: it is
// made only by NewKey, which copies, so a Key can never be a view of a
// request buffer that changes under the index, the memory tier, the disk
// tier or a flight that keep it long after the request has ended.
type Key struct{ s string }

// NewKey returns the Key for s, copying it: s may view a buffer that is
// reused after the caller returns (a fasthttp request, for instance).
func NewKey(s string) Key { return Key{strings.Clone(s)} }

// String returns the key as a string. The string is owned by the Key and
// may be kept.
func (k Key) String() string { return k.s }
