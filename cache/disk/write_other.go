//go:build !linux

package disk

// writeBoth writes a then b to f.
func writeBoth(f File, a, b []byte) error { return writeEach(f, a, b) }

// clearForReuse reports false: recycled files are opened with O_TRUNC.
func clearForReuse(File, int64) (bool, error) { return false, nil }
