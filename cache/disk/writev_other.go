//go:build !linux

package disk

// writeBoth writes a then b to f.
func writeBoth(f File, a, b []byte) error { return writeEach(f, a, b) }
