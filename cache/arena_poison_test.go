package cache

// Every test of the package runs with released arena memory poisoned, so a
// read of a chunk after its last reference is gone returns bytes that the
// tests comparing content with the origin's notice.
func init() { arenaPoison = true }
