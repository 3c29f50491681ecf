//go:build race

package server

// raceEnabled says the tests run under the race detector, which makes the
// randomized tests about ten times slower: they make fewer requests.
const raceEnabled = true
